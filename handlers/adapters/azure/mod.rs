//! Azure adapters: thin REST clients of our own (see `shared/reference/azure-rest.md`), on one
//! reqwest client each, with Entra tokens and no secrets: identity (managed identity, IMDS, the
//! Azure CLI) and Service Bus (the Queue port). The Store and blob adapters follow.

pub mod identity;
pub mod keyvault;
pub mod servicebus;
