//! The manifest pipeline shared by the front ends: the manifest table (`table`), the
//! data set built from it and the files it names (`build`), per-cell preprocessing
//! (`preprocess`) and uploaded files (`upload`).

pub mod build;
pub mod preprocess;
pub mod table;
pub mod upload;
