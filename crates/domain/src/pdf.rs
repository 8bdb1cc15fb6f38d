//! A4 documents of rows of text (invoices, credit notes, certificates),
//! written with pdf-writer in the standard Helvetica fonts every reader
//! has, so nothing is embedded and a document weighs a few kilobytes.
//!
//! Text is encoded in WinAnsi (the fonts' Latin encoding): French accents,
//! the euro sign and typographic quotes print; anything else prints as `?`.
//! Widths come from Helvetica's metrics, so amounts align on the right and
//! a text too long for its column is cut with an ellipsis. Rows flow onto
//! new pages, each numbered.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
pub const LEFT: f32 = 50.0;
pub const RIGHT: f32 = PAGE_W - 50.0;
const TOP: f32 = PAGE_H - 60.0;
const BOTTOM: f32 = 70.0;

/// One piece of text of a row.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Left edge, or right edge when `right`.
    pub x: f32,
    pub text: String,
    pub bold: bool,
    pub right: bool,
    /// Width it may take; longer text is cut. 0: up to the page's edge.
    pub width: f32,
}

impl Cell {
    pub fn left(x: f32, text: impl Into<String>) -> Self {
        Self {
            x,
            text: text.into(),
            bold: false,
            right: false,
            width: 0.0,
        }
    }

    pub fn right(x: f32, text: impl Into<String>) -> Self {
        Self {
            right: true,
            ..Self::left(x, text)
        }
    }

    pub fn bold(mut self) -> Self {
        self.bold = true;
        self
    }

    pub fn width(mut self, width: f32) -> Self {
        self.width = width;
        self
    }
}

/// A document being written, top to bottom.
pub struct Document {
    title: String,
    footer: String,
    pages: Vec<Content>,
    y: f32,
}

impl Document {
    /// `footer` is printed at the bottom of every page with its number.
    pub fn new(title: impl Into<String>, footer: impl Into<String>) -> Self {
        let mut doc = Self {
            title: title.into(),
            footer: footer.into(),
            pages: Vec::new(),
            y: TOP,
        };
        doc.new_page();
        doc
    }

    fn new_page(&mut self) {
        self.pages.push(Content::new());
        self.y = TOP;
    }

    fn page(&mut self) -> &mut Content {
        if self.pages.is_empty() {
            self.pages.push(Content::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Writes `cells` on one line of `size` points, then moves down.
    pub fn row(&mut self, size: f32, cells: &[Cell]) {
        let height = size * 1.45;
        if self.y - height < BOTTOM {
            self.new_page();
        }
        let y = self.y - size;
        for cell in cells {
            let room = if cell.width > 0.0 {
                cell.width
            } else if cell.right {
                cell.x - LEFT
            } else {
                RIGHT - cell.x
            };
            let text = fit(&cell.text, size, room);
            let x = if cell.right {
                cell.x - text_width(&text, size)
            } else {
                cell.x
            };
            let font = if cell.bold { BOLD } else { REGULAR };
            let bytes = win_ansi(&text);
            self.page()
                .begin_text()
                .set_font(Name(font), size)
                .next_line(x, y)
                .show(Str(&bytes))
                .end_text();
        }
        self.y -= height;
    }

    /// Empty space.
    pub fn gap(&mut self, points: f32) {
        self.y -= points;
        if self.y < BOTTOM {
            self.new_page();
        }
    }

    /// A thin line across the page.
    pub fn rule(&mut self) {
        let y = self.y - 3.0;
        self.page()
            .set_line_width(0.5)
            .set_stroke_gray(0.6)
            .move_to(LEFT, y)
            .line_to(RIGHT, y)
            .stroke();
        self.y -= 8.0;
    }

    /// Several lines of running text, wrapped to the page's width.
    pub fn paragraph(&mut self, size: f32, text: &str) {
        for line in wrap(text, size, RIGHT - LEFT) {
            self.row(size, &[Cell::left(LEFT, line)]);
        }
    }

    /// The PDF file.
    pub fn finish(self) -> Vec<u8> {
        let mut pdf = Pdf::new();
        let catalog = Ref::new(1);
        let tree = Ref::new(2);
        let regular = Ref::new(3);
        let bold = Ref::new(4);
        let info = Ref::new(5);
        let first = 6;
        let count = self.pages.len();
        let page_ref = |i: usize| Ref::new(first + 2 * i32::try_from(i).unwrap_or(0));
        let content_ref = |i: usize| Ref::new(first + 2 * i32::try_from(i).unwrap_or(0) + 1);
        pdf.catalog(catalog).pages(tree);
        pdf.pages(tree)
            .kids((0..count).map(page_ref))
            .count(i32::try_from(count).unwrap_or(i32::MAX));
        for font in [(regular, "Helvetica"), (bold, "Helvetica-Bold")] {
            pdf.type1_font(font.0)
                .base_font(Name(font.1.as_bytes()))
                .encoding_predefined(Name(b"WinAnsiEncoding"));
        }
        pdf.document_info(info)
            .title(TextStr(&self.title))
            .producer(TextStr("Relais"));
        for (i, mut content) in self.pages.into_iter().enumerate() {
            let footer = format!("{} · page {}/{}", self.footer, i + 1, count);
            let bytes = win_ansi(&fit(&footer, 8.0, RIGHT - LEFT));
            content
                .set_fill_gray(0.4)
                .begin_text()
                .set_font(Name(REGULAR), 8.0)
                .next_line(LEFT, 40.0)
                .show(Str(&bytes))
                .end_text();
            let mut page = pdf.page(page_ref(i));
            page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
                .parent(tree)
                .contents(content_ref(i));
            let mut resources = page.resources();
            let mut fonts = resources.fonts();
            fonts.pair(Name(REGULAR), regular);
            fonts.pair(Name(BOLD), bold);
            fonts.finish();
            resources.finish();
            page.finish();
            pdf.stream(content_ref(i), &content.finish());
        }
        pdf.finish()
    }
}

const REGULAR: &[u8] = b"F1";
const BOLD: &[u8] = b"F2";

/// Helvetica's advance widths (1/1000 em) for ASCII 32..=126.
const WIDTHS: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // sp..'/'
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0-9
    278, 278, 584, 584, 584, 556, 1015, // :..@
    667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667,
    611, 722, 667, 944, 667, 667, 611, // A-Z
    278, 278, 278, 469, 556, 333, // [..`
    556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500,
    278, 556, 500, 722, 500, 500, 500, // a-z
    334, 260, 334, 584, // {..~
];

fn char_width(c: char) -> f32 {
    let w = match c as u32 {
        n @ 32..=126 => WIDTHS[(n - 32) as usize],
        // Accented letters are as wide as their base letter; 556 is
        // Helvetica's usual width and a fair guess for the rest.
        _ => 556,
    };
    f32::from(w) / 1000.0
}

/// Width of `text` in points at `size`.
pub fn text_width(text: &str, size: f32) -> f32 {
    text.chars().map(char_width).sum::<f32>() * size
}

/// `text`, cut with an ellipsis to fit `room` points.
fn fit(text: &str, size: f32, room: f32) -> String {
    if text_width(text, size) <= room {
        return text.to_owned();
    }
    let ellipsis = char_width('…') * size;
    let mut out = String::new();
    let mut used = 0.0;
    for c in text.chars() {
        let w = char_width(c) * size;
        if used + w + ellipsis > room {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Words of `text` in lines no wider than `room`.
fn wrap(text: &str, size: f32, room: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if text_width(&candidate, size) > room && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                line = word.to_owned();
            } else {
                line = candidate;
            }
        }
        lines.push(line);
    }
    lines
}

/// `text` in WinAnsi (Windows-1252), the encoding of the standard fonts.
pub fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '\u{202f}' => 0xa0,
            '€' => 0x80,
            '‚' => 0x82,
            '„' => 0x84,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            'Œ' => 0x8c,
            'œ' => 0x9c,
            'Ÿ' => 0x9f,
            _ => b'?',
        })
        .collect()
}

/// Cents as a French amount: `1 234,56 €`.
pub fn euros(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let units = (abs / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push(' ');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped},{:02} €", abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_the_french_way() {
        assert_eq!(euros(4284), "42,84 €");
        assert_eq!(euros(123_456_789), "1 234 567,89 €");
        assert_eq!(euros(-5), "-0,05 €");
    }

    #[test]
    fn accents_and_the_euro_sign_are_win_ansi() {
        assert_eq!(win_ansi("é€’"), vec![0xe9, 0x80, 0x92]);
        assert_eq!(win_ansi("日"), b"?".to_vec());
    }

    #[test]
    fn long_text_is_cut_to_its_column() {
        let cut = fit(&"Ménage ".repeat(40), 10.0, 100.0);
        assert!(cut.ends_with('…'));
        assert!(text_width(&cut, 10.0) <= 100.0);
        assert_eq!(wrap("un deux trois", 10.0, 40.0), vec!["un deux", "trois"]);
    }
}

#[cfg(test)]
mod reading {
    use super::*;

    /// What a reader extracts from the file: the text is really there, in
    /// order, with its accents, on the pages it flowed to.
    #[test]
    fn a_reader_gets_the_text_back_from_every_page() {
        let mut doc = Document::new("Facture F2026-000001", "Relais démo");
        doc.row(16.0, &[Cell::left(LEFT, "Facture F2026-000001").bold()]);
        for i in 0..80 {
            doc.row(
                10.0,
                &[
                    Cell::left(LEFT, format!("Ménage à domicile n°{i}")),
                    Cell::right(RIGHT, euros(2500 + i)),
                ],
            );
        }
        let bytes = doc.finish();
        let pdf = lopdf::Document::load_mem(&bytes).expect("a readable PDF");
        let pages: Vec<u32> = pdf.get_pages().keys().copied().collect();
        assert_eq!(pages.len(), 2);
        let text = pdf.extract_text(&pages).expect("its text");
        assert!(text.contains("Facture F2026-000001"), "{text}");
        assert!(text.contains("Ménage à domicile n°79"), "{text}");
        assert!(text.contains("25,79 €"), "{text}");
        assert!(text.contains("page 2/2"), "{text}");
    }
}
