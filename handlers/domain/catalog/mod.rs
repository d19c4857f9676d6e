//! The catalog: the declarative inventory of datasets and jobs. `yaml` reads the text with
//! positions, `spec` is the file's shape (and JSON Schema), `check` validates a spec into the
//! resolved `model` that the rest of flowgate uses.

pub mod check;
pub mod model;
mod releases;
pub mod spec;
pub mod yaml;

pub use check::{load, Problem};
pub use model::{Catalog, Dataset, Job, Trigger};
