//! `dtag synth`: writes a synthetic corpus for measuring cost at scale.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use dtag::io_guard::OutputGuard;
use dtag::synth::SynthParams;

use super::output::summary;

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Number of documents.
    #[arg(long, default_value_t = SynthParams::default().documents, value_name = "N")]
    documents: usize,

    /// Number of distinct descriptors (frequencies are long-tailed).
    #[arg(long, default_value_t = SynthParams::default().descriptors, value_name = "N")]
    descriptors: usize,

    /// Mean words per document.
    #[arg(long, default_value_t = SynthParams::default().words_per_document, value_name = "N")]
    words: usize,

    /// Size of the Zipfian vocabulary.
    #[arg(long, default_value_t = SynthParams::default().vocabulary, value_name = "N")]
    vocabulary: usize,

    /// Mean descriptors per document.
    #[arg(long, default_value_t = SynthParams::default().descriptors_per_document, value_name = "F", allow_negative_numbers = true)]
    descriptors_per_document: f64,

    /// Seed of the generator (same seed, same corpus).
    #[arg(long, default_value_t = SynthParams::default().seed, value_name = "N")]
    seed: u64,

    /// Where to write the corpus (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    output: PathBuf,
}

pub fn run(args: SynthArgs) -> anyhow::Result<()> {
    let params = SynthParams {
        documents: args.documents,
        descriptors: args.descriptors,
        words_per_document: args.words,
        vocabulary: args.vocabulary,
        descriptors_per_document: args.descriptors_per_document,
        seed: args.seed,
        ..SynthParams::default()
    }
    .check()?;
    let output = OutputGuard::new().file("--output", &args.output)?;
    if output.is_stdout() {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        params.write(&mut out)?;
        out.flush()?;
        return Ok(());
    }
    let mut bytes = Vec::new();
    let n = params.write(&mut bytes)?;
    output.write(&bytes)?;
    summary!(
        "wrote {n} synthetic documents ({} MB) to {output}",
        bytes.len() / 1_000_000
    );
    Ok(())
}
