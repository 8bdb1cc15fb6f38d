//! Mails and PDFs as their reader sees them, decoded by real parsers.

/// A mail as its reader sees it.
#[derive(Debug)]
pub struct ReadMail {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// (file name, content)
    pub attachments: Vec<(String, Vec<u8>)>,
}

/// `raw` (an RFC 5322 message) through a MIME parser.
pub fn read_mail(raw: &str) -> ReadMail {
    use mail_parser::{MessageParser, MimeHeaders};
    let m = MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap_or_else(|| panic!("not a parsable mail: {raw:.200}"));
    ReadMail {
        to: m
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_owned(),
        subject: m.subject().unwrap_or_default().to_owned(),
        body: m.body_text(0).map(|b| b.into_owned()).unwrap_or_default(),
        attachments: m
            .attachments()
            .map(|a| {
                (
                    a.attachment_name().unwrap_or_default().to_owned(),
                    a.contents().to_vec(),
                )
            })
            .collect(),
    }
}

/// The text of a PDF, as a reader copies it out.
pub fn pdf_text_of(bytes: &[u8]) -> String {
    let pdf = lopdf::Document::load_mem(bytes).unwrap_or_else(|e| panic!("not a PDF: {e}"));
    let pages: Vec<u32> = pdf.get_pages().keys().copied().collect();
    pdf.extract_text(&pages)
        .unwrap_or_else(|e| panic!("the PDF's text: {e}"))
}
