//! Catalogue lines: the descriptors chosen for a document, in the forms an indexer pastes into
//! a catalogue. `dtag suggest --output-format` writes them, and the web page's Copy button
//! produces the same text (its script mirrors [`catalogue_text`]).

/// Prefix of the URIs dtag gives descriptors that have no thesaurus concept.
pub const DESCRIPTOR_URI_PREFIX: &str = "urn:dtag:descriptor:";

/// The stable URI of a descriptor label: [`DESCRIPTOR_URI_PREFIX`] followed by the label's
/// UTF-8 bytes percent-encoded (everything but `A-Z a-z 0-9 - . _ ~`), so the same label
/// always has the same URI, in every model, and the label can be read back from it.
pub fn descriptor_uri(label: &str) -> String {
    let mut out = String::with_capacity(DESCRIPTOR_URI_PREFIX.len() + label.len());
    out.push_str(DESCRIPTOR_URI_PREFIX);
    for &b in label.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A form of catalogue lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogueForm {
    /// dtag's corpus header, `%%%A|B|`: descriptor names, one line per document.
    Header,
    /// Annif's subject file lines, `<uri>\tlabel`, one per descriptor.
    AnnifTsv,
    /// One URI per line.
    Uris,
}

/// A chosen descriptor: its name in the model, its URI (the concept's, else
/// [`descriptor_uri`]) and its label in the catalogue's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueSubject {
    pub descriptor: String,
    pub uri: String,
    pub label: String,
}

/// One document's subjects in `form`, each line ending with a line break (a document without
/// subjects gives an empty text: a header without descriptors would not be a header).
pub fn catalogue_text(form: CatalogueForm, subjects: &[CatalogueSubject]) -> String {
    if subjects.is_empty() {
        return String::new();
    }
    match form {
        CatalogueForm::Header => {
            let mut line = String::from("%%%");
            for s in subjects {
                line.push_str(&s.descriptor);
                line.push('|');
            }
            line.push('\n');
            line
        }
        CatalogueForm::AnnifTsv => subjects
            .iter()
            .map(|s| super::annif::subject_line(Some(&s.uri), &s.descriptor, Some(&s.label), None))
            .collect(),
        CatalogueForm::Uris => subjects.iter().map(|s| format!("{}\n", s.uri)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_each_form() {
        let subjects = [
            CatalogueSubject {
                descriptor: "CHILDREN".into(),
                uri: "http://metadata.un.org/thesaurus/1000952".into(),
                label: "儿童".into(),
            },
            CatalogueSubject {
                descriptor: "PEACE KEEPING".into(),
                uri: descriptor_uri("PEACE KEEPING"),
                label: "PEACE KEEPING".into(),
            },
        ];
        assert_eq!(
            catalogue_text(CatalogueForm::Header, &subjects),
            "%%%CHILDREN|PEACE KEEPING|\n"
        );
        assert_eq!(
            catalogue_text(CatalogueForm::AnnifTsv, &subjects),
            "<http://metadata.un.org/thesaurus/1000952>\t儿童\n\
             <urn:dtag:descriptor:PEACE%20KEEPING>\tPEACE KEEPING\n"
        );
        assert_eq!(
            catalogue_text(CatalogueForm::Uris, &subjects),
            "http://metadata.un.org/thesaurus/1000952\nurn:dtag:descriptor:PEACE%20KEEPING\n"
        );
        assert_eq!(catalogue_text(CatalogueForm::Header, &[]), "");
    }
}
