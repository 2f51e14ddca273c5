//! shared flags

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};

use dtag::analysis::{read_user_dict, AnalyzerConfig, CharNgrams, Language, SegmenterKind};
use dtag::calibrate::{ThresholdObjective, TuneParams};
use dtag::classifier::ensemble::EnsembleParams;
use dtag::classifier::{LogisticParams, OneVsRestParams};
use dtag::corpus::Corpus;
use dtag::features::TfidfParams;
use dtag::formats::CorpusFormat;
use dtag::predict::{AskedThreshold, DecisionRequest, DecisionRule};
use dtag::projects::Project;
use dtag::session::{Overrides, Session};
use dtag::thesaurus::Thesaurus;
use dtag::train::{TrainParams, ValidTrainParams};

use super::output::{prompt_if_terminal, report_read, summary};
use dtag::train::TrainInputs;

/// Settings shared by `train` and `cv`.
#[derive(Args, Debug)]
pub struct TrainOptions {
    /// Inverse regularisation strength of every descriptor's model.
    #[arg(long, default_value_t = LogisticParams::default().c, value_name = "F", allow_negative_numbers = true)]
    pub c: f64,

    /// Multiply C by this for positive documents (helps rare descriptors).
    #[arg(long, default_value_t = LogisticParams::default().positive_weight, value_name = "F", allow_negative_numbers = true)]
    pub positive_weight: f64,

    /// Skip descriptors with fewer training documents (they are listed).
    #[arg(long, default_value_t = TrainParams::default().min_label_docs, value_name = "N")]
    pub min_label_docs: usize,

    /// Keep terms found in at least N training documents.
    #[arg(long, default_value_t = TfidfParams::default().min_df, value_name = "N")]
    pub min_df: usize,

    /// Drop terms found in more than this fraction of documents.
    #[arg(long, default_value_t = TfidfParams::default().max_df, value_name = "F", allow_negative_numbers = true)]
    pub max_df: f64,

    /// Keep only the N terms with the highest document frequency.
    #[arg(long, value_name = "N")]
    pub max_features: Option<usize>,

    /// Weigh words by raw counts instead of 1 + ln(count).
    #[arg(long)]
    pub no_sublinear_tf: bool,

    /// Language of the documents, stored in the model (as an Annif project's language):
    /// `zh` segments with jieba; `en`, `fi`, `fr`, `es`, `ru`, `ar` split words, drop stop
    /// words and stem (Snowball). Thesaurus labels in this language (or untagged) are matched.
    #[arg(long, default_value = "zh", value_name = "LANG", value_parser = Language::parse)]
    pub language: Language,

    /// How bodies are split into words (default: the language's: jieba for zh, words otherwise).
    #[arg(long, value_enum)]
    pub analyzer: Option<AnalyzerArg>,

    /// jieba user dictionary (`word [freq] [tag]` per line); its words stay whole.
    #[arg(long, value_name = "FILE")]
    pub user_dict: Option<PathBuf>,

    /// Drop words shorter than N characters (1 keeps single-character words).
    #[arg(long, default_value_t = AnalyzerConfig::default().min_word_chars, value_name = "N")]
    pub min_word_chars: usize,

    /// Character n-grams added as features, weighted by presence: `han:MIN-MAX` for runs of
    /// Chinese characters, `all:MIN-MAX` (or `MIN-MAX`) for every run of letters and digits,
    /// `none` for words only. Default: `han:1-1` (single Chinese characters) with the jieba
    /// analyzer, `none` with the whitespace analyzer.
    #[arg(long, value_name = "SPEC", value_parser = parse_char_ngrams)]
    pub char_ngrams: Option<CharNgramsArg>,

    /// Solver stopping tolerance (largest dual gradient violation).
    #[arg(long, default_value_t = LogisticParams::default().tolerance, value_name = "F", allow_negative_numbers = true)]
    pub tolerance: f64,

    /// Upper bound on solver epochs per descriptor.
    #[arg(long, default_value_t = LogisticParams::default().max_epochs, value_name = "N")]
    pub max_epochs: usize,

    /// Rare descriptors train on their positives plus about F sampled negatives per positive,
    /// importance-weighted (0 = always use every document).
    #[arg(long, default_value_t = LogisticParams::default().negatives_per_positive, value_name = "F", allow_negative_numbers = true)]
    pub negatives_per_positive: f64,

    /// Sample no fewer documents than this per descriptor (smaller corpora are never sampled).
    #[arg(long, default_value_t = LogisticParams::default().min_sampled_rows, value_name = "N")]
    pub min_sampled_rows: usize,

    /// Drop weights smaller than this in magnitude from the saved model.
    #[arg(long, default_value_t = OneVsRestParams::default().prune_below, value_name = "F", allow_negative_numbers = true)]
    pub prune: f32,

    /// Skip threshold tuning. By default training cross-validates on the training corpus to
    /// calibrate scores and learn a threshold per descriptor (used by `suggest` and `eval`
    /// unless `--threshold` is given); without it scores are the raw logistic outputs, cut at 0.5.
    #[arg(long)]
    pub no_tune: bool,

    /// Tune thresholds (the default; kept so that older scripts keep working).
    #[arg(long, hide = true, conflicts_with = "no_tune")]
    pub tune_thresholds: bool,

    /// Cross-validation folds of threshold tuning.
    #[arg(long, default_value_t = TuneParams::default().folds, value_name = "K", conflicts_with = "no_tune")]
    pub tune_folds: usize,

    /// Epochs each fold's model of threshold tuning runs, starting from the model trained on
    /// all folds with the held-out fold removed (0: train each fold's model from zero).
    #[arg(long, default_value_t = TuneParams::default().refit_epochs, value_name = "N", conflicts_with = "no_tune")]
    pub tune_epochs: usize,

    /// What the tuned thresholds maximise out of fold.
    #[arg(long, value_enum, default_value_t = ObjectiveArg::MicroF1, conflicts_with = "no_tune")]
    pub threshold_objective: ObjectiveArg,

    /// Descriptors with fewer training documents get thresholds pulled toward the global one.
    #[arg(long, default_value_t = TuneParams::default().min_positives, value_name = "N", conflicts_with = "no_tune")]
    pub threshold_min_docs: usize,

    /// Strength of the pull of each descriptor's calibration toward the shared one.
    #[arg(long, default_value_t = TuneParams::default().calibration_prior, value_name = "F", conflicts_with = "no_tune", allow_negative_numbers = true)]
    pub calibration_prior: f64,

    /// One-vs-rest only: fit no ensemble. By default tuning's out-of-fold scores also fit
    /// nearest neighbours and a lexicon of descriptor (and thesaurus) labels, fused with
    /// one-vs-rest, and the fused ranking is kept when it ranks better out of fold.
    #[arg(long, conflicts_with = "no_tune")]
    pub no_ensemble: bool,

    /// Training documents that vote for a draft's descriptors in the ensemble (0: none).
    #[arg(long, default_value_t = EnsembleParams::default().neighbours, value_name = "N", conflicts_with = "no_ensemble")]
    pub neighbours: usize,

    /// Do not match descriptor and thesaurus labels in the text.
    #[arg(long, conflicts_with = "no_ensemble")]
    pub no_lexicon: bool,
}

#[derive(Args, Debug, Clone)]
pub struct DecisionArgs {
    /// Propose at most N descriptors per document [default: the project's limit, else 10]
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Propose descriptors with at least this probability (the best one always, unless
    /// --min-score). Default: the model's tuned per-descriptor thresholds, or 0.5 for an
    /// untuned model.
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    pub threshold: Option<f32>,

    /// Propose nothing below this probability, not even the best descriptor: a draft that
    /// nothing fits gets no suggestion.
    #[arg(
        long,
        value_name = "P",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub min_score: f32,
}

impl DecisionArgs {
    /// What these flags ask of the decision (a threshold given means "at least the best").
    pub fn request(&self) -> DecisionRequest {
        DecisionRequest {
            limit: self.limit,
            threshold: self.threshold,
            min_score: self.min_score,
            threshold_means: AskedThreshold::AtLeastTheBest,
        }
    }

    /// The rule these flags give without a project.
    pub fn rule(&self) -> anyhow::Result<DecisionRule> {
        self.rule_for(&Project::of_model_file(Path::new("")))
    }

    /// The rule these flags give for `project` ([`Project::command_rule`]).
    pub fn rule_for(&self, project: &Project) -> anyhow::Result<DecisionRule> {
        Ok(project.command_rule(&self.request())?)
    }
}

/// `--model FILE`, or `--project ID` of a projects file: the model a command works on.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// The model file.
    #[arg(long, value_name = "FILE", required_unless_present = "project")]
    pub model: Option<PathBuf>,

    /// A project of the projects file: its model, and its thesaurus, limit and threshold
    /// unless given here.
    #[arg(long, value_name = "ID", conflicts_with = "model")]
    pub project: Option<String>,

    /// The projects file --project reads.
    #[arg(long, value_name = "FILE", default_value = dtag::projects::DEFAULT_CONFIG)]
    pub config: PathBuf,
}

impl ModelArgs {
    /// The project these flags choose, with `overrides` applied (only a projects file is
    /// read; the model is opened by [`dtag::session::Session::open`]).
    pub fn project(&self, overrides: &Overrides) -> anyhow::Result<Project> {
        let project =
            Project::choose(self.model.as_deref(), self.project.as_deref(), &self.config)?;
        Ok(project.with_overrides(overrides))
    }
}

/// Says on stderr which thesaurus a session was given, as [`load_thesaurus`] does.
pub fn report_thesaurus(session: &Session) {
    if let Some((path, thesaurus, seconds)) = session.given_thesaurus() {
        summary!(
            "thesaurus {}: {} concepts, {} groups ({seconds:.2}s)",
            path.display(),
            thesaurus.concepts().len(),
            thesaurus.groups().len(),
        );
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnalyzerArg {
    /// jieba-rs word segmentation (for Chinese; also splits Latin words).
    Jieba,
    /// Split on whitespace only (already tokenized text).
    Whitespace,
    /// Runs of letters and digits (alphabetic languages; the default for all but `zh`).
    Words,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectiveArg {
    /// Thresholds that together maximise micro-F1.
    MicroF1,
    /// Each descriptor's threshold maximises its own F1 (more recall for rare descriptors).
    DescriptorF1,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Tsv,
    Json,
}

/// `--char-ngrams` as given; `none` is a choice of its own, unlike an absent flag.
#[derive(Clone, Copy, Debug)]
pub struct CharNgramsArg(Option<CharNgrams>);

pub fn parse_char_ngrams(s: &str) -> Result<CharNgramsArg, String> {
    CharNgrams::parse(s).map(CharNgramsArg)
}

pub fn train_params(args: &TrainOptions) -> anyhow::Result<TrainParams> {
    let user_words = match &args.user_dict {
        Some(path) => read_user_dict(path)?,
        None => Vec::new(),
    };
    let segmenter = match args.analyzer {
        Some(AnalyzerArg::Jieba) => SegmenterKind::Jieba,
        Some(AnalyzerArg::Whitespace) => SegmenterKind::Whitespace,
        Some(AnalyzerArg::Words) => SegmenterKind::Words,
        None => args.language.default_segmenter(),
    };
    let params = TrainParams {
        analyzer: AnalyzerConfig {
            segmenter,
            user_words,
            char_ngrams: args
                .char_ngrams
                .map_or_else(|| CharNgrams::default_for(segmenter), |arg| arg.0),
            min_word_chars: args.min_word_chars,
            language: args.language,
        },
        tfidf: TfidfParams {
            min_df: args.min_df,
            max_df: args.max_df,
            max_features: args.max_features,
            sublinear_tf: !args.no_sublinear_tf,
        },
        ovr: OneVsRestParams {
            logistic: LogisticParams {
                c: args.c,
                positive_weight: args.positive_weight,
                tolerance: args.tolerance,
                max_epochs: args.max_epochs,
                negatives_per_positive: args.negatives_per_positive,
                min_sampled_rows: args.min_sampled_rows,
                ..LogisticParams::default()
            },
            prune_below: args.prune,
        },
        min_label_docs: args.min_label_docs,
        tune: (!args.no_tune).then(|| TuneParams {
            folds: args.tune_folds,
            refit_epochs: args.tune_epochs,
            objective: match args.threshold_objective {
                ObjectiveArg::MicroF1 => ThresholdObjective::MicroF1,
                ObjectiveArg::DescriptorF1 => ThresholdObjective::DescriptorF1,
            },
            min_positives: args.threshold_min_docs,
            calibration_prior: args.calibration_prior,
            ..TuneParams::default()
        }),
        ensemble: (!args.no_ensemble).then(|| EnsembleParams {
            neighbours: args.neighbours,
            lexicon: !args.no_lexicon,
            ..EnsembleParams::default()
        }),
    };
    Ok(params)
}

/// The training settings, checked before anything is read, and the thesaurus, whose Chinese
/// labels become segmenter words: what `train` and `cv` both start from.
pub fn params_and_thesaurus(
    options: &TrainOptions,
    thesaurus: &ThesaurusArgs,
) -> anyhow::Result<(ValidTrainParams, Option<dtag::thesaurus::Thesaurus>)> {
    let mut params = train_params(options)?;
    params.clone().check()?;
    let thesaurus = thesaurus.load()?;
    if let Some(t) = &thesaurus {
        let added = params.add_thesaurus_words(t);
        summary!("segmenter: {added} Chinese thesaurus labels added as words");
    }
    Ok((params.check()?, thesaurus))
}

/// `--thesaurus` and `--strict-thesaurus`, for commands that read labelled corpora.
#[derive(Args, Debug, Clone)]
pub struct ThesaurusArgs {
    /// Thesaurus: the UNBIS table (`concepts.tsv`, with `microthesauri.tsv` read from beside
    /// it) or SKOS Turtle (`.ttl`). Corpus descriptors are matched to concepts by URI or by
    /// English label (case-insensitive) and named by their English preferred label.
    #[arg(long, value_name = "FILE")]
    pub thesaurus: Option<PathBuf>,

    /// Refuse corpus descriptors the thesaurus does not have (default: warn and keep them).
    #[arg(long, requires = "thesaurus")]
    pub strict_thesaurus: bool,
}

impl ThesaurusArgs {
    pub fn load(&self) -> anyhow::Result<Option<Thesaurus>> {
        load_optional_thesaurus(self.thesaurus.as_deref())
    }
}

/// The thesaurus of `path`, when one is given.
pub fn load_optional_thesaurus(path: Option<&Path>) -> anyhow::Result<Option<Thesaurus>> {
    path.map(load_thesaurus).transpose()
}

pub fn load_thesaurus(path: &Path) -> anyhow::Result<Thesaurus> {
    let started = Instant::now();
    let thesaurus = Thesaurus::load(path)?;
    summary!(
        "thesaurus {}: {} concepts, {} groups ({:.2}s)",
        path.display(),
        thesaurus.concepts().len(),
        thesaurus.groups().len(),
        started.elapsed().as_secs_f64()
    );
    Ok(thesaurus)
}

/// Corpus format of `--format`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CorpusFormatArg {
    /// Detect each input's format (`%%%`, JSON Lines, TSV; a directory with `.txt` + `.key`/`.tsv`).
    #[default]
    Auto,
    /// `%%%D1|D2|`, an empty line, the body on one line.
    Dtag,
    /// Annif TSV: `text<TAB><uri> <uri>` per line (`.gz` read transparently).
    AnnifTsv,
    /// Annif JSON Lines: `{"text": …, "subjects": [{"uri": …, "label": …}]}` per line.
    AnnifJsonl,
    /// Annif document directory: `NAME.txt` with `NAME.tsv` or `NAME.key`.
    AnnifDir,
}

impl CorpusFormatArg {
    pub fn format(self) -> Option<CorpusFormat> {
        match self {
            CorpusFormatArg::Auto => None,
            CorpusFormatArg::Dtag => Some(CorpusFormat::Dtag),
            CorpusFormatArg::AnnifTsv => Some(CorpusFormat::AnnifTsv),
            CorpusFormatArg::AnnifJsonl => Some(CorpusFormat::AnnifJsonl),
            CorpusFormatArg::AnnifDir => Some(CorpusFormat::AnnifDir),
        }
    }
}

impl ThesaurusArgs {
    /// [`read_labelled`] with the thesaurus these flags gave (`--strict-thesaurus` applies),
    /// as `train`, `cv` and `convert` read their corpus.
    pub fn read_labelled(
        &self,
        corpus: &[PathBuf],
        format: CorpusFormatArg,
        thesaurus: Option<&Thesaurus>,
    ) -> anyhow::Result<Corpus> {
        read_labelled(corpus, format, thesaurus, self.strict_thesaurus, true)
    }
}

/// Reads a labelled corpus in any format and names its descriptors through the thesaurus,
/// printing what was read and any warnings on stderr. `warn_unknown` is false when the
/// thesaurus is only what a model stores (its unknowns are simply descriptors new to it).
pub fn read_labelled(
    paths: &[PathBuf],
    format: CorpusFormatArg,
    thesaurus: Option<&Thesaurus>,
    strict: bool,
    warn_unknown: bool,
) -> anyhow::Result<Corpus> {
    prompt_if_terminal(paths, "a corpus");
    let inputs = TrainInputs {
        corpus: paths,
        format: format.format(),
        thesaurus,
        strict_thesaurus: strict,
    };
    let read = inputs.read()?;
    report_read(&read, thesaurus.is_some(), warn_unknown);
    Ok(read.corpus)
}
