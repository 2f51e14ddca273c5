//! `dtag convert`: writes a corpus in another format.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use dtag::formats::{self, CorpusFormat};

use super::flags::{CorpusFormatArg, ThesaurusArgs};
use super::output::stderr_line;
use super::output::summary;

/// Output format of `convert` (any readable format except auto-detection).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormatArg {
    Dtag,
    AnnifTsv,
    AnnifJsonl,
    AnnifDir,
}

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Labelled corpus files or directories (`-` for stdin).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE|DIR")]
    corpus: Vec<PathBuf>,

    /// Format of the input.
    #[arg(long = "input-format", alias = "format", value_enum, default_value_t = CorpusFormatArg::Auto)]
    input_format: CorpusFormatArg,

    /// Format to write.
    #[arg(long, value_enum)]
    to: OutputFormatArg,

    /// Where to write: a file (`.gz` is gzipped), or a new directory for annif-dir.
    #[arg(long, value_name = "PATH")]
    output: PathBuf,

    #[command(flatten)]
    thesaurus: ThesaurusArgs,
}

pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    let mut guard = dtag::io_guard::OutputGuard::new();
    guard
        .inputs("--corpus", &args.corpus)
        .inputs("--thesaurus", &args.thesaurus.thesaurus);
    let output = if args.to == OutputFormatArg::AnnifDir {
        let target = guard.directory("--output", &args.output, true)?;
        dtag::io_guard::Output::File {
            given: args.output.clone(),
            target,
        }
    } else {
        guard.file("--output", &args.output)?
    };
    let thesaurus = args.thesaurus.load()?;
    let corpus =
        args.thesaurus
            .read_labelled(&args.corpus, args.input_format, thesaurus.as_ref())?;
    let to = match args.to {
        OutputFormatArg::Dtag => CorpusFormat::Dtag,
        OutputFormatArg::AnnifTsv => CorpusFormat::AnnifTsv,
        OutputFormatArg::AnnifJsonl => CorpusFormat::AnnifJsonl,
        OutputFormatArg::AnnifDir => CorpusFormat::AnnifDir,
    };
    let report = formats::write_corpus_to(&corpus, to, &output, thesaurus.as_ref())?;
    if report.flattened > 0 {
        stderr_line!(
            "note: {} document text(s) had line breaks{} replaced by spaces to fit the {to} format",
            report.flattened,
            if to == CorpusFormat::AnnifTsv {
                " or tabs"
            } else {
                ""
            }
        );
    }
    summary!(
        "wrote {} documents as {to}{} to {}",
        report.documents,
        if report.gzipped { " (gzipped)" } else { "" },
        output
    );
    Ok(())
}
