//! `dtag inspect`: what a model holds.

use std::io::Write;

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;

use dtag::predict::explain::{descriptor_profile, find_descriptor};

use super::flags::ModelArgs;
use super::output::stderr_line;
use super::output::summary;

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[command(flatten)]
    model: ModelArgs,

    /// A descriptor (name, URI or Chinese label) whose strongest terms to list; without it,
    /// the model's descriptors are listed.
    #[arg(long, value_name = "NAME")]
    descriptor: Option<String>,

    /// How many terms to list each way.
    #[arg(long, default_value_t = 20, value_name = "N")]
    terms: usize,

    /// Print JSON instead of TSV.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct DescriptorRow<'a> {
    descriptor: &'a str,
    documents: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label_zh: Option<&'a str>,
}

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    if args.terms == 0 {
        bail!("--terms must be at least 1");
    }
    // Only the model's own facts are shown: no thesaurus, no analyzer to build.
    let project = args.model.project(&dtag::session::Overrides::default())?;
    let model = dtag::model::Model::load(&project.model)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match &args.descriptor {
        Some(query) => {
            let label = find_descriptor(&model, query).with_context(|| {
                format!(
                    "the model has no descriptor `{query}` (`dtag inspect --model {}` lists them)",
                    project.model.display()
                )
            })?;
            let profile = descriptor_profile(&model, label, args.terms);
            if args.json {
                serde_json::to_writer_pretty(&mut out, &profile)?;
                writeln!(out)?;
            } else {
                stderr_line!(
                    "{}{}: {} training documents, intercept {:.4}, {} stored weights",
                    profile.descriptor,
                    profile
                        .label_zh
                        .as_deref()
                        .map(|z| format!(" ({z})"))
                        .unwrap_or_default(),
                    profile.documents,
                    profile.intercept,
                    profile.stored_weights
                );
                writeln!(out, "sign\trank\tterm\tweight\tidf")?;
                for (sign, terms) in [("+", &profile.positive), ("-", &profile.negative)] {
                    for (rank, t) in terms.iter().enumerate() {
                        writeln!(
                            out,
                            "{sign}\t{}\t{}\t{:.4}\t{:.3}",
                            rank + 1,
                            t.term,
                            t.weight,
                            t.idf
                        )?;
                    }
                }
            }
        }
        None => {
            let rows: Vec<DescriptorRow> = model
                .descriptors
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let concept = model
                        .concepts
                        .as_ref()
                        .and_then(|c| c.descriptors[i].as_ref());
                    DescriptorRow {
                        descriptor: d,
                        documents: model.info.label_documents[i],
                        uri: concept.map(|c| c.uri.as_str()),
                        label_zh: concept.and_then(|c| c.label_zh.as_deref()),
                    }
                })
                .collect();
            summary!(
                "{} descriptors, {} training documents, vocabulary {} terms, C {}{}",
                model.descriptors.len(),
                model.info.documents,
                model.vectorizer.n_features(),
                model.info.c,
                model
                    .concepts
                    .as_ref()
                    .map(|c| format!(
                        ", thesaurus {} ({} of {} descriptors resolved)",
                        c.source,
                        c.resolved(),
                        model.descriptors.len()
                    ))
                    .unwrap_or_default()
            );
            if let Some(m) = model.memory.as_ref().filter(|m| m.updates > 0) {
                summary!(
                    "learned {} documents in {} update(s) since training; vocabulary and idf of \
                     the {} documents it was trained on",
                    m.learned_documents,
                    m.updates,
                    m.vocabulary_documents
                );
            }
            if let Some(e) = &model.ensemble {
                let weights: Vec<String> = dtag::classifier::ensemble::FEATURES
                    .iter()
                    .zip(&e.fusion().weights)
                    .map(|((name, member), w)| format!("{}/{name} {w:+.3}", member.name()))
                    .collect();
                summary!(
                    "ensemble: one-vs-rest for {} descriptors, {} neighbours, {} lexicon labels \
({} descriptors from the lexicon alone); fusion weights: {}",
                    model.trained_descriptors(),
                    e.neighbours(),
                    e.lexicon().map_or(0, |l| l.n_labels()),
                    model.descriptors.len() - model.trained_descriptors(),
                    weights.join(", ")
                );
            }
            if args.json {
                serde_json::to_writer_pretty(&mut out, &rows)?;
                writeln!(out)?;
            } else {
                writeln!(out, "descriptor\tdocuments\turi\tlabel_zh")?;
                for r in rows {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}",
                        r.descriptor,
                        r.documents,
                        r.uri.unwrap_or(""),
                        r.label_zh.unwrap_or("")
                    )?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}
