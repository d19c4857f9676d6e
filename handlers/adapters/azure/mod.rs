//! Azure adapters: thin REST clients of our own (see `shared/reference/azure-rest.md`), on one
//! reqwest client each, with Entra tokens and no secrets. Today: identity (managed identity, IMDS,
//! the Azure CLI). The Store, Queue and blob adapters on Azure services follow.

pub mod identity;
