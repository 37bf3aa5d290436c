//! The manifest pipeline shared by the front ends: the manifest table (`table`), the
//! data set built from it and the files it names (`build`), per-cell preprocessing
//! (`preprocess`), uploaded files (`upload`), samples captured in the page (`capture`)
//! and a data set as one zip file (`export`).

pub mod build;
pub mod capture;
pub mod export;
pub mod preprocess;
pub mod table;
pub mod upload;
