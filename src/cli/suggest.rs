//! `dtag suggest`: ranks and proposes descriptors for drafts (`--explain` says why).

use std::io::Write;
use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use serde::Serialize;

use dtag::formats::catalogue::{catalogue_text, descriptor_uri, CatalogueForm, CatalogueSubject};
use dtag::predict::Suggestion;
use dtag::session::{Naming, Overrides, Session};

use super::flags::{self, CorpusFormatArg, DecisionArgs, Format, ModelArgs};
use super::output::stderr_line;
use super::output::{self};
use dtag::io_guard::{Output, OutputGuard};

#[derive(Args, Debug)]
pub struct SuggestArgs {
    #[command(flatten)]
    bound: super::bounds::DocumentBound,

    #[command(flatten)]
    model: ModelArgs,

    /// Write the suggestions to this file (atomically) instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,

    #[command(flatten)]
    decision: DecisionArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Tsv)]
    format: Format,

    /// JSON on standard output (the same as `--format json`).
    #[arg(long, conflicts_with = "format")]
    json: bool,

    /// Thesaurus for URIs and labels of the suggestions (models trained with one store them).
    #[arg(long, value_name = "FILE")]
    thesaurus: Option<PathBuf>,

    /// Catalogue lines instead of the table: `header` (`%%%A|B|`, one line per draft),
    /// `annif-tsv` (Annif's subject lines, `<uri>\tlabel`) or `uris` (one per line); a draft's
    /// lines are its proposed descriptors, drafts separated by an empty line (the web page's
    /// Copy gives the same forms).
    #[arg(long, value_enum, value_name = "FORM", conflicts_with_all = ["format", "json", "explain"])]
    output_format: Option<CatalogueFormArg>,

    /// For each suggestion, list the draft's terms that contributed most, both ways.
    #[arg(long)]
    explain: bool,

    /// How many terms --explain lists each way.
    #[arg(long, default_value_t = 5, value_name = "N", requires = "explain")]
    explain_terms: usize,

    /// Format of the drafts (`--format` is the output's): by default each input is detected,
    /// a corpus in any format gives a draft per document, any other file is one draft.
    #[arg(long, value_enum, default_value_t = CorpusFormatArg::Auto)]
    input_format: CorpusFormatArg,

    /// Warn about a draft with fewer distinct terms known to the model than this (such a
    /// draft has little to be judged by; 0: never warn).
    #[arg(long, default_value_t = 3, value_name = "N")]
    min_known_terms: usize,

    /// Drafts: files (one draft each, or a corpus in any format: a draft per document),
    /// Annif document directories, `-` for stdin (the default).
    #[arg(value_name = "FILE|DIR")]
    inputs: Vec<PathBuf>,

    /// Drafts, as every other command names its documents: read after the positional ones.
    #[arg(long, num_args = 1.., value_name = "FILE|DIR")]
    corpus: Vec<PathBuf>,
}

/// `--output-format`: a form of catalogue lines.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum CatalogueFormArg {
    /// `%%%A|B|`: dtag's corpus header.
    Header,
    /// `<uri>\tlabel`: Annif's subject file lines.
    AnnifTsv,
    /// One URI per line.
    Uris,
}

impl CatalogueFormArg {
    fn form(self) -> CatalogueForm {
        match self {
            CatalogueFormArg::Header => CatalogueForm::Header,
            CatalogueFormArg::AnnifTsv => CatalogueForm::AnnifTsv,
            CatalogueFormArg::Uris => CatalogueForm::Uris,
        }
    }
}

/// The drafts' proposed descriptors as catalogue lines: labels in the model's language
/// (Chinese for a Chinese model, else English) when the concept has one, URIs of concepts or
/// else [`descriptor_uri`]; drafts in input order, separated by an empty line except in the
/// one-line header form.
fn catalogue_lines(form: CatalogueForm, chinese: bool, results: &[Vec<Suggestion>]) -> String {
    let blocks: Vec<String> = results
        .iter()
        .map(|suggestions| {
            let subjects: Vec<CatalogueSubject> = suggestions
                .iter()
                .map(|s| CatalogueSubject {
                    descriptor: s.descriptor.clone(),
                    uri: s
                        .uri
                        .clone()
                        .unwrap_or_else(|| descriptor_uri(&s.descriptor)),
                    label: if chinese { &s.label_zh } else { &s.label_en }
                        .clone()
                        .unwrap_or_else(|| s.descriptor.clone()),
                })
                .collect();
            catalogue_text(form, &subjects)
        })
        .collect();
    match form {
        // A draft without descriptors keeps its line, so lines and drafts correspond.
        CatalogueForm::Header => blocks
            .into_iter()
            .map(|b| if b.is_empty() { "\n".to_string() } else { b })
            .collect(),
        _ => blocks.join("\n"),
    }
}

/// A draft to suggest for, with a name for the output.
struct Draft {
    name: String,
    text: String,
}

/// The drafts of the inputs, through the reader of every command (see
/// [`dtag::formats::read_drafts`]): a corpus in any format gives a draft per document.
fn read_drafts(paths: &[PathBuf], format: CorpusFormatArg) -> anyhow::Result<Vec<Draft>> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        paths.to_vec()
    };
    output::prompt_if_terminal(&paths, "a draft");
    let raw = dtag::formats::read_drafts(&paths, format.format())?;
    Ok(raw
        .documents
        .into_iter()
        .map(|d| Draft {
            name: d.origin.to_string(),
            text: d.text,
        })
        .collect())
}

#[derive(Serialize)]
struct DraftSuggestions<'a> {
    document: &'a str,
    suggestions: &'a [Suggestion],
}

pub fn run(mut args: SuggestArgs) -> anyhow::Result<()> {
    args.bound.apply();
    if args.json {
        args.format = Format::Json;
    }
    args.inputs.append(&mut args.corpus);
    let project = args.model.project(&Overrides {
        thesaurus: args.thesaurus.clone(),
        ..Overrides::default()
    })?;
    let rule = args.decision.rule_for(&project)?;
    if args.explain_terms == 0 {
        bail!("--explain-terms must be at least 1");
    }
    // Before any work: an --output that is an input (a draft, the model) is refused.
    let destination = match &args.output {
        Some(path) => {
            let mut guard = OutputGuard::new();
            guard
                .inputs("--model", [&project.model])
                .inputs("--thesaurus", &project.thesaurus)
                .inputs("FILE", &args.inputs);
            guard.file("--output", path)?
        }
        None => Output::Stdout,
    };
    let session = Session::open(project, Naming::Suggestions)?;
    flags::report_thesaurus(&session);
    let drafts = read_drafts(&args.inputs, args.input_format)?;
    let with_concepts = session.model().concepts.is_some();
    let texts: Vec<&str> = drafts.iter().map(|d| d.text.as_str()).collect();
    if args.explain {
        let explained = session.explain(&texts, &rule, args.explain_terms);
        let overlaps: Vec<_> = explained.iter().map(|(_, o)| *o).collect();
        warn_unfamiliar_drafts(&drafts, &overlaps, args.min_known_terms);
        let results: Vec<_> = explained.into_iter().map(|(e, _)| e).collect();
        let out = render_explained(&session, &drafts, &results, args.format)?;
        return Ok(destination.write(&out)?);
    }
    // One analysis per draft: its suggestions and its overlap with the vocabulary.
    let suggested = session.suggest(&texts, &rule);
    let overlaps: Vec<_> = suggested.iter().map(|s| s.overlap).collect();
    warn_unfamiliar_drafts(&drafts, &overlaps, args.min_known_terms);
    let results: Vec<Vec<Suggestion>> = suggested.into_iter().map(|s| s.suggestions).collect();
    if let Some(form) = args.output_format {
        let chinese = session.labels_in_chinese();
        destination.write(catalogue_lines(form.form(), chinese, &results).as_bytes())?;
        return Ok(());
    }

    let mut out: Vec<u8> = Vec::new();
    match args.format {
        Format::Tsv => {
            output::write_tsv_header(&mut out, with_concepts)?;
            writeln!(out)?;
            for (draft, suggestions) in drafts.iter().zip(&results) {
                for (rank, s) in suggestions.iter().enumerate() {
                    output::write_tsv_row(&mut out, &draft.name, rank, s, with_concepts)?;
                    writeln!(out)?;
                }
            }
        }
        Format::Json => {
            let items: Vec<DraftSuggestions> = drafts
                .iter()
                .zip(&results)
                .map(|(d, s)| DraftSuggestions {
                    document: &d.name,
                    suggestions: s,
                })
                .collect();
            serde_json::to_writer_pretty(&mut out, &items)?;
            writeln!(out)?;
        }
    }
    destination.write(&out)?;
    Ok(())
}

/// Warns about each draft that shares (almost) no vocabulary with the model: its suggestions,
/// if any pass the rule, rest on nothing (`--min-score` lets such drafts get none).
fn warn_unfamiliar_drafts(
    drafts: &[Draft],
    overlaps: &[dtag::features::Overlap],
    min_known: usize,
) {
    if min_known == 0 {
        return;
    }
    for (draft, o) in drafts.iter().zip(overlaps) {
        if o.terms == 0 {
            stderr_line!(
                "warning: {}: the draft is empty (no words); nothing can be suggested from it",
                draft.name
            );
        } else if o.known < min_known {
            stderr_line!(
                "warning: {}: only {} of the draft's {} distinct terms are known to the model \
                 (fewer than --min-known-terms {min_known}); its suggestions rest on almost nothing",
                draft.name, o.known, o.terms
            );
        }
    }
}

/// The explained suggestions of every draft, as TSV or JSON.
fn render_explained(
    session: &Session,
    drafts: &[Draft],
    results: &[Vec<dtag::predict::explain::ExplainedSuggestion>],
    format: Format,
) -> anyhow::Result<Vec<u8>> {
    let with_concepts = session.model().concepts.is_some();
    let mut out: Vec<u8> = Vec::new();
    match format {
        Format::Tsv => {
            // With an ensemble, a last column splits each fused value by member.
            let with_members = session.model().ensemble.is_some();
            output::write_tsv_header(&mut out, with_concepts)?;
            write!(out, "\tpositive_terms\tnegative_terms")?;
            writeln!(out, "{}", if with_members { "\tmembers" } else { "" })?;
            for (draft, suggestions) in drafts.iter().zip(results) {
                for (rank, e) in suggestions.iter().enumerate() {
                    output::write_tsv_row(
                        &mut out,
                        &draft.name,
                        rank,
                        &e.suggestion,
                        with_concepts,
                    )?;
                    write!(
                        out,
                        "\t{}\t{}",
                        output::format_terms(&e.explanation.positive),
                        output::format_terms(&e.explanation.negative)
                    )?;
                    if with_members {
                        let members: Vec<String> = e
                            .explanation
                            .members
                            .iter()
                            .map(|m| format!("{}:{:+.4}", m.member, m.contribution))
                            .collect();
                        write!(out, "\t{}", members.join(" "))?;
                    }
                    writeln!(out)?;
                }
            }
        }
        Format::Json => {
            let items: Vec<output::ExplainedDraft> = drafts
                .iter()
                .zip(results)
                .map(|(d, s)| output::ExplainedDraft {
                    document: &d.name,
                    suggestions: s,
                })
                .collect();
            serde_json::to_writer_pretty(&mut out, &items)?;
            writeln!(out)?;
        }
    }
    Ok(out)
}
