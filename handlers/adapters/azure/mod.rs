//! Azure adapters: thin REST clients of our own (see `shared/reference/azure-rest.md`), on one
//! reqwest client each, with Entra tokens and no secrets: identity (managed identity, IMDS, the
//! Azure CLI), Service Bus (the Queue port), Key Vault secrets (the PII key) and the Logs Ingestion
//! API (the audit trail's copy in Log Analytics). The Store and blob adapters follow.

pub mod blob_audit;
pub mod blobs;
pub mod calls;
pub mod identity;
pub mod keyvault;
pub mod logs_ingestion;
pub mod servicebus;
pub mod storage;
pub mod tables;
