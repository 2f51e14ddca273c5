//! `--max-document-bytes`: the bound on one document's size, for every command that reads
//! documents (`suggest`, `index`, `eval`, `train`).

use clap::Args;

#[derive(Args, Debug, Clone, Copy)]
pub struct DocumentBound {
    /// Refuse a document larger than this many bytes, naming it, before reading it where its
    /// size is known (a draft file; `index` skips it and says so at the end)
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = dtag::io_guard::DEFAULT_MAX_DOCUMENT_BYTES,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    max_document_bytes: u64,
}

impl DocumentBound {
    /// Makes the bound the process's ([`dtag::io_guard::set_max_document_bytes`]).
    pub fn apply(&self) {
        dtag::io_guard::set_max_document_bytes(self.max_document_bytes);
    }
}
