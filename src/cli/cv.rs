//! `dtag cv`: cross-validates the whole training run.

use std::path::PathBuf;

use clap::Args;

use dtag::calibrate::TuneParams;
use dtag::evaluate::cv::cross_validate;

use super::flags::{
    params_and_thesaurus, train_params, CorpusFormatArg, DecisionArgs, ThesaurusArgs, TrainOptions,
};
use super::output::{self, Bars};

#[derive(Args, Debug)]
pub struct CvArgs {
    /// Labelled corpus files or directories (`-` for stdin).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE|DIR")]
    corpus: Vec<PathBuf>,

    /// Corpus format.
    #[arg(long = "input-format", alias = "format", value_enum, default_value_t = CorpusFormatArg::Auto)]
    input_format: CorpusFormatArg,

    /// As for `train`: the segmenter's words and the names of the corpus descriptors.
    #[command(flatten)]
    thesaurus: ThesaurusArgs,

    /// Number of folds.
    #[arg(long, default_value_t = 5, value_name = "K")]
    folds: usize,

    /// Seed of the fold assignment.
    #[arg(long, default_value_t = TuneParams::default().seed, value_name = "N")]
    seed: u64,

    #[command(flatten)]
    options: TrainOptions,

    #[command(flatten)]
    decision: DecisionArgs,

    /// Print the summary and every fold's figures as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: CvArgs, bars: &Bars) -> anyhow::Result<()> {
    train_params(&args.options)?.check()?;
    let rule = args.decision.rule()?;
    dtag::evaluate::cv::check_folds(args.folds)?;
    // The same reader and thesaurus handling as `train`, so that `cv` measures what `train`
    // would learn from the same corpus.
    let (params, thesaurus) = params_and_thesaurus(&args.options, &args.thesaurus)?;
    let corpus =
        args.thesaurus
            .read_labelled(&args.corpus, args.input_format, thesaurus.as_ref())?;
    let report = cross_validate(
        &params,
        &corpus,
        thesaurus.as_ref(),
        args.folds,
        args.seed,
        &rule,
        bars,
    )?;
    if args.json {
        output::print_out(format_args!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        output::print_out(report.to_table())?;
    }
    Ok(())
}
