//! Word documents (`.docx`) as drafts and corpus documents: the text of the body, one line per
//! paragraph.
//!
//! A `.docx` is a zip archive whose body is the XML part `word/document.xml`. Only that part
//! is read (headers, footers, comments and notes are other parts, not the document's text);
//! in it, the text of the runs (`w:t`), with tabs, line breaks and non-breaking hyphens, each
//! paragraph (`w:p`, table cells included) ending with a line break. Deleted text of tracked
//! changes (`w:delText`) and field codes (`w:instrText`) are left out, as Word shows them.
//!
//! *Why a stream:* the body is inflated and parsed as it is read, never held whole, and
//! inflation stops past [`MAX_XML_RATIO`] times its compressed size (a zip bomb), so memory
//! stays bounded by the text kept, itself at most what the caller allows. Every failure is one
//! [`Error::Io`] naming the file and saying what is wrong: not a zip archive, no body, an
//! encrypted (password-protected) document, a decompression bomb, malformed XML, too long a
//! text.

use std::cell::Cell;
use std::io::{BufReader, Cursor, Read};
use std::rc::Rc;

use quick_xml::events::Event;

use crate::error::{Error, Result};

/// Zip archives (and so `.docx` files) start with a local file header.
const ZIP_MAGIC: [u8; 4] = *b"PK\x03\x04";
/// OLE compound files: what Word writes for a password-protected document (the encrypted
/// package inside one) and for the old binary `.doc`.
const CFB_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
/// The part that holds the body.
const BODY_PART: &str = "word/document.xml";

/// The body's XML may inflate to at most this many times its compressed size (plus
/// [`XML_SLACK`]). Real bodies deflate 5 to 20 times (markup repeats); deflate can reach 1032.
pub const MAX_XML_RATIO: u64 = 100;
const XML_SLACK: u64 = 1 << 20;
/// And never beyond this, whatever its compressed size.
pub const MAX_XML_BYTES: u64 = 1 << 30;
/// The longest text a `.docx` read from the command line may give (the server passes its own
/// body limit).
pub const MAX_TEXT_BYTES: usize = 64 << 20;

/// Whether an input is read as a Word document: its name ends in `.docx` (any case), or its
/// bytes are a zip archive (never a text draft).
pub fn is_word_document(name: &str, bytes: &[u8]) -> bool {
    has_docx_name(name) || bytes.starts_with(&ZIP_MAGIC)
}

/// Whether a file name ends in `.docx` (any case).
pub fn has_docx_name(name: &str) -> bool {
    name.len() >= 5
        && name.is_char_boundary(name.len() - 5)
        && name[name.len() - 5..].eq_ignore_ascii_case(".docx")
}

/// The text of a Word document's body: paragraphs joined by line breaks. `name` names the
/// file in errors; a text longer than `max_text_bytes` is refused.
pub fn extract_text(name: &str, bytes: &[u8], max_text_bytes: usize) -> Result<String> {
    let fail = |why: String| {
        Error::io(
            name,
            std::io::Error::new(std::io::ErrorKind::InvalidData, why),
        )
    };
    if bytes.starts_with(&CFB_MAGIC) {
        return Err(fail(if is_encrypted_package(bytes) {
            "is an encrypted (password-protected) Word document; dtag cannot read it: save it \
             without a password as .docx"
                .into()
        } else {
            "is an old binary Word (.doc) or other OLE file, not a .docx: save it as a Word \
             document (.docx)"
                .into()
        }));
    }
    if !bytes.starts_with(&ZIP_MAGIC) {
        return Err(fail(
            "is not a Word document (.docx): it is not a zip archive".into(),
        ));
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        fail(format!(
            "is not a readable Word document (.docx): a damaged zip archive ({e})"
        ))
    })?;
    let part = match archive.by_name(BODY_PART) {
        Ok(part) => part,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(fail(format!(
                "is a zip archive without {BODY_PART}, not a Word document (.docx)"
            )))
        }
        Err(zip::result::ZipError::UnsupportedArchive(why))
            if why == zip::result::ZipError::PASSWORD_REQUIRED =>
        {
            return Err(fail(
                "is encrypted (its body needs a password); dtag cannot read it: save it \
                 without a password as .docx"
                    .into(),
            ))
        }
        Err(e) => {
            return Err(fail(format!(
                "is not a readable Word document (.docx): {BODY_PART}: {e}"
            )))
        }
    };
    if part.encrypted() {
        return Err(fail(
            "is encrypted (its body needs a password); dtag cannot read it: save it without a \
             password as .docx"
                .into(),
        ));
    }
    let limit = part
        .compressed_size()
        .saturating_mul(MAX_XML_RATIO)
        .saturating_add(XML_SLACK)
        .min(MAX_XML_BYTES);
    let crossed = Rc::new(Cell::new(false));
    let limited = Limited {
        inner: part,
        left: limit,
        crossed: crossed.clone(),
    };
    match body_text(BufReader::new(limited), max_text_bytes) {
        Ok(text) => Ok(text),
        Err(_) if crossed.get() => Err(fail(format!(
            "{BODY_PART} inflates to more than {limit} bytes ({MAX_XML_RATIO} times its \
             compressed size), which no Word document does: a damaged file or a zip bomb"
        ))),
        Err(BodyError::TooLong) => Err(fail(format!(
            "its text is longer than {max_text_bytes} bytes, more than a draft may be"
        ))),
        Err(BodyError::Xml(why)) => Err(fail(format!(
            "is not a readable Word document (.docx): {BODY_PART}: {why}"
        ))),
    }
}

/// A password-protected Office document is a compound file holding an `EncryptedPackage`
/// stream; its directory names the stream in UTF-16.
fn is_encrypted_package(bytes: &[u8]) -> bool {
    let name: Vec<u8> = "EncryptedPackage"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    bytes.windows(name.len()).any(|w| w == name)
}

enum BodyError {
    Xml(String),
    TooLong,
}

/// Reads at most `left` bytes, then fails (and says so through `crossed`): the inflated body
/// is never allowed to grow past its bound, however small the archive.
struct Limited<R> {
    inner: R,
    left: u64,
    crossed: Rc<Cell<bool>>,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One byte more than allowed means the bound is crossed; none means the end.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.crossed.set(true);
                    Err(std::io::Error::other("inflated size limit crossed"))
                }
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// The text of the body of `word/document.xml`, streamed.
fn body_text(source: impl std::io::BufRead, max_text_bytes: usize) -> Result<String, BodyError> {
    let mut reader = quick_xml::Reader::from_reader(source);
    let mut buf = Vec::new();
    let mut text = String::new();
    // Depths: inside `w:body`, inside a run (`w:r`, whose `w:tab` and `w:br` are characters;
    // a paragraph's `w:tab`s are tab stops), inside a `w:t`.
    let (mut in_body, mut in_run, mut in_text) = (0usize, 0usize, 0usize);
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| {
            BodyError::Xml(format!(
                "malformed XML near byte {}: {e}",
                reader.buffer_position()
            ))
        })?;
        match event {
            Event::Start(e) => match e.local_name().as_ref() {
                "body" => in_body += 1,
                "r" if in_body > 0 => in_run += 1,
                "t" if in_run > 0 => in_text += 1,
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                "body" => in_body = in_body.saturating_sub(1),
                "r" if in_body > 0 => in_run = in_run.saturating_sub(1),
                "t" if in_run > 0 => in_text = in_text.saturating_sub(1),
                "p" if in_body > 0 => text.push('\n'),
                _ => {}
            },
            Event::Empty(e) if in_run > 0 => match e.local_name().as_ref() {
                "tab" => text.push('\t'),
                "br" | "cr" => text.push('\n'),
                "noBreakHyphen" => text.push('-'),
                _ => {}
            },
            Event::Empty(e) if in_body > 0 && e.local_name().as_ref() == "p" => text.push('\n'),
            Event::Text(e) if in_text > 0 => text.push_str(&e.xml10_content()),
            Event::CData(e) if in_text > 0 => text.push_str(&e.xml10_content()),
            Event::GeneralRef(e) if in_text > 0 => {
                let resolved = match e.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&e).map(String::from),
                    Err(_) => None,
                };
                match resolved {
                    Some(s) => text.push_str(&s),
                    None => return Err(BodyError::Xml(format!("unknown entity &{};", &*e))),
                }
            }
            Event::Eof => break,
            _ => {}
        }
        if text.len() > max_text_bytes {
            return Err(BodyError::TooLong);
        }
        buf.clear();
    }
    // Paragraph ends are line breaks between paragraphs, not after the last.
    let kept = text.trim_end_matches('\n').len();
    text.truncate(kept);
    Ok(text)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A `.docx` whose body holds `paragraphs` (each a run of text), with the parts Word
    /// writes beside it.
    pub(crate) fn docx(paragraphs: &[&str]) -> Vec<u8> {
        let body: String = paragraphs
            .iter()
            .map(|p| {
                format!(
                    "<w:p><w:pPr><w:tabs><w:tab w:val=\"left\" w:pos=\"720\"/></w:tabs></w:pPr>\
                     <w:r><w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
                    quick_xml::escape::escape(*p)
                )
            })
            .collect();
        with_body(&format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
             <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
             <w:body>{body}<w:sectPr/></w:body></w:document>"
        ))
    }

    pub(crate) fn with_body(xml: &str) -> Vec<u8> {
        zip_of(&[
            ("[Content_Types].xml", "<Types/>".as_bytes()),
            (BODY_PART, xml.as_bytes()),
        ])
    }

    fn zip_of(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in parts {
            writer.start_file(*name, options).unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn message(result: Result<String>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn reads_the_body_paragraph_by_paragraph() {
        let bytes = docx(&["维持和平行动 & 儿童", "第二段"]);
        assert_eq!(
            extract_text("a.docx", &bytes, MAX_TEXT_BYTES).unwrap(),
            "维持和平行动 & 儿童\n第二段"
        );
        // Runs, tabs, breaks, tables; tab stops, deleted text and field codes are not text.
        let xml = "<w:document xmlns:w=\"w\"><w:body>\
            <w:p><w:r><w:t>A</w:t></w:r><w:r><w:tab/><w:t>B&#x4E2D;</w:t><w:br/></w:r>\
            <w:del><w:r><w:delText>gone</w:delText></w:r></w:del>\
            <w:r><w:instrText>PAGE</w:instrText></w:r></w:p>\
            <w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell</w:t></w:r></w:p></w:tc></w:tr></w:tbl>\
            <w:p/></w:body></w:document>";
        assert_eq!(
            extract_text("b.docx", &with_body(xml), MAX_TEXT_BYTES).unwrap(),
            "A\tB中\n\ncell"
        );
    }

    #[test]
    fn refuses_what_is_not_a_readable_word_document() {
        let good = docx(&["text"]);
        // Not a zip at all.
        let m = message(extract_text("x.docx", b"plain text", MAX_TEXT_BYTES));
        assert!(
            m.starts_with("x.docx: ") && m.contains("not a zip archive"),
            "{m}"
        );
        // A zip without a body.
        let other = zip_of(&[("readme.txt", b"hello")]);
        let m = message(extract_text("y.docx", &other, MAX_TEXT_BYTES));
        assert!(m.contains("without word/document.xml"), "{m}");
        // Truncated: the central directory is gone.
        let m = message(extract_text(
            "t.docx",
            &good[..good.len() / 2],
            MAX_TEXT_BYTES,
        ));
        assert!(m.starts_with("t.docx: ") && m.contains("damaged"), "{m}");
        // Malformed XML.
        let bad = with_body("<w:document><w:body><w:p></w:body></w:document>");
        let m = message(extract_text("m.docx", &bad, MAX_TEXT_BYTES));
        assert!(m.contains("malformed XML"), "{m}");
        // Too long a text for the caller.
        let m = message(extract_text("l.docx", &docx(&["0123456789"]), 5));
        assert!(m.contains("longer than 5 bytes"), "{m}");
    }

    #[test]
    fn refuses_encrypted_documents() {
        // What Word writes for a password: a compound file with an encrypted package.
        let mut cfb = CFB_MAGIC.to_vec();
        cfb.resize(512, 0);
        cfb.extend(
            "EncryptedPackage"
                .encode_utf16()
                .flat_map(|u| u.to_le_bytes()),
        );
        let m = message(extract_text("secret.docx", &cfb, MAX_TEXT_BYTES));
        assert!(
            m.starts_with("secret.docx: ") && m.contains("password-protected"),
            "{m}"
        );
        let mut doc = CFB_MAGIC.to_vec();
        doc.resize(1024, 0);
        let m = message(extract_text("old.docx", &doc, MAX_TEXT_BYTES));
        assert!(m.contains(".doc"), "{m}");
        // A zip whose entries carry the "encrypted" flag (traditional zip encryption).
        let mut zipped = docx(&["text"]);
        for signature in [&b"PK\x03\x04"[..], &b"PK\x01\x02"[..]] {
            let flag_offset = if signature == b"PK\x03\x04" { 6 } else { 8 };
            let mut at = 0;
            while let Some(i) = zipped[at..].windows(4).position(|w| w == signature) {
                zipped[at + i + flag_offset] |= 1;
                at += i + 4;
            }
        }
        let m = message(extract_text("zipcrypto.docx", &zipped, MAX_TEXT_BYTES));
        assert!(
            m.starts_with("zipcrypto.docx: ") && m.contains("password"),
            "{m}"
        );
    }

    #[test]
    fn a_zip_bomb_is_refused_without_inflating_it() {
        // 64 MiB of one paragraph's spaces deflate to about 64 KiB: far past the ratio.
        let mut xml = String::from("<w:document xmlns:w=\"w\"><w:body><w:p><w:r><w:t>");
        xml.push_str(&" ".repeat(64 << 20));
        xml.push_str("</w:t></w:r></w:p></w:body></w:document>");
        let bomb = with_body(&xml);
        drop(xml);
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        let m = message(extract_text("bomb.docx", &bomb, usize::MAX));
        assert!(
            m.starts_with("bomb.docx: ") && m.contains("zip bomb"),
            "{m}"
        );
    }
}
