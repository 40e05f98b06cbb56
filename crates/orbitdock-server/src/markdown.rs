//! Markdown -> sanitised HTML for the web UI's transcript.
//!
//! Agent and user messages are CommonMark (code fences, tables, lists, links). The UI must not
//! carry a hand-written markdown parser, and the model's text is untrusted input that ends up in
//! the page's DOM, so rendering happens here: `pulldown-cmark` parses, `ammonia` sanitises the
//! result with an allow-list (no scripts, no event handlers, no `javascript:` URLs, links get
//! `rel="noopener noreferrer"`). The only attribute we add to ammonia's defaults is a `class` on
//! `<code>` restricted to `language-*` (so the UI can label code blocks) and read-only task-list
//! checkboxes. The UI asks for rendered HTML once an item is complete (`POST /api/markdown`) and
//! caches it by item id; while a message is still streaming it shows plain text.

use std::sync::OnceLock;

use pulldown_cmark::{Options, Parser, html};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Largest markdown input (bytes) the route accepts; the transcript's messages are far smaller,
/// and the limit keeps one request from tying up a worker on a multi-megabyte paste.
pub const MAX_MARKDOWN_BYTES: usize = 512 * 1024;

/// Most texts one `POST /api/markdown` may carry (the UI batches what it renders in one tick).
pub const MAX_MARKDOWN_BATCH: usize = 500;

/// Body of `POST /api/markdown`: one `text`, or several `texts` (answered in the same order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct MarkdownRequest {
    /// One markdown text.
    pub text: Option<String>,
    /// Several markdown texts.
    pub texts: Option<Vec<String>>,
}

/// Answer of `POST /api/markdown`: `html` for `text`, `htmls` for `texts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MarkdownResponse {
    /// Sanitised HTML of `text`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Sanitised HTML of each of `texts`, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub htmls: Option<Vec<String>>,
}

/// Renders a [`MarkdownRequest`]; refuses (400) empty requests, more than
/// [`MAX_MARKDOWN_BATCH`] texts, or more than [`MAX_MARKDOWN_BYTES`] in total.
/// CPU-bound: call it from `spawn_blocking` for large inputs.
pub fn render_request(req: &MarkdownRequest) -> Result<MarkdownResponse> {
    if req.text.is_none() && req.texts.is_none() {
        return Err(Error::BadRequest(
            "markdown: give `text` (a string) or `texts` (an array of strings)".into(),
        ));
    }
    let texts = req.texts.as_deref().unwrap_or_default();
    if texts.len() > MAX_MARKDOWN_BATCH {
        return Err(Error::BadRequest(format!(
            "markdown: {} texts in one request, at most {MAX_MARKDOWN_BATCH}",
            texts.len()
        )));
    }
    let total: usize =
        req.text.as_ref().map_or(0, String::len) + texts.iter().map(String::len).sum::<usize>();
    if total > MAX_MARKDOWN_BYTES {
        return Err(Error::BadRequest(format!(
            "markdown: {total} bytes in one request, at most {MAX_MARKDOWN_BYTES}"
        )));
    }
    Ok(MarkdownResponse {
        html: req.text.as_deref().map(render_markdown),
        htmls: req
            .texts
            .as_ref()
            .map(|ts| ts.iter().map(|t| render_markdown(t)).collect()),
    })
}

fn sanitizer() -> &'static ammonia::Builder<'static> {
    static BUILDER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    BUILDER.get_or_init(|| {
        let mut builder = ammonia::Builder::default();
        builder
            .add_tags(["input"])
            .add_tag_attributes("code", ["class"])
            .add_tag_attributes("input", ["type", "checked", "disabled"])
            .add_tag_attributes("ol", ["start"])
            .attribute_filter(|element, attribute, value| match (element, attribute) {
                ("code", "class") => language_class(value).map(Into::into),
                ("input", "type") => (value == "checkbox").then(|| value.into()),
                _ => Some(value.into()),
            });
        // Task-list checkboxes are display-only: force `disabled` whatever the source said.
        builder.set_tag_attribute_value("input", "disabled", "");
        builder
    })
}

/// Keeps only a single `language-NAME` class made of safe characters.
fn language_class(value: &str) -> Option<&str> {
    let name = value.strip_prefix("language-")?;
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '#' | '.'));
    ok.then_some(value)
}

/// Renders CommonMark (with tables, strikethrough and task lists) to sanitised HTML.
///
/// Never fails: any input yields some HTML; raw HTML in the source is either allow-listed
/// markup or removed, never executed.
pub fn render_markdown(text: &str) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_GFM;
    let parser = Parser::new_ext(text, options);
    let mut raw = String::with_capacity(text.len() + text.len() / 4);
    html::push_html(&mut raw, parser);
    sanitizer().clean(&raw).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_paragraphs_code_blocks_and_tables() {
        let html = render_markdown(
            "Hello **world**\n\n```rust\nfn main() {}\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        );
        assert_eq!(
            html,
            "<p>Hello <strong>world</strong></p>\n\
             <pre><code class=\"language-rust\">fn main() {}\n</code></pre>\n\
             <table><thead><tr><th>a</th><th>b</th></tr></thead><tbody>\n\
             <tr><td>1</td><td>2</td></tr>\n</tbody></table>\n"
        );
    }

    #[test]
    fn strips_scripts_handlers_and_javascript_urls() {
        let html = render_markdown(
            "<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n[x](javascript:alert(1)) <a href=\"https://example.com\" onclick=\"x()\">ok</a>",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(!html.contains("onclick"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(
            html.contains("<a href=\"https://example.com\" rel=\"noopener noreferrer\">ok</a>"),
            "{html}"
        );
    }

    #[test]
    fn code_class_is_restricted_to_language_names() {
        let html = render_markdown("```\" onmouseover=\"x\nhi\n```\n");
        assert!(!html.contains("onmouseover"), "{html}");
        let html = render_markdown("<code class=\"evil language-x\">a</code>");
        assert_eq!(html, "<p><code>a</code></p>\n");
    }

    #[test]
    fn task_lists_render_as_disabled_checkboxes() {
        let html = render_markdown("- [x] done\n- [ ] todo\n");
        assert!(
            html.contains("<li><input disabled=\"\" type=\"checkbox\" checked=\"\">\ndone</li>"),
            "{html}"
        );
        assert!(
            html.contains("<li><input disabled=\"\" type=\"checkbox\">\ntodo</li>"),
            "{html}"
        );
        let html = render_markdown("<input type=\"text\" value=\"x\">");
        assert!(!html.contains("type=\"text\""), "{html}");
    }

    #[test]
    fn requests_render_single_and_batched_texts_and_refuse_bad_ones() {
        let one = render_request(&MarkdownRequest {
            text: Some("*a*".into()),
            texts: None,
        })
        .unwrap();
        assert_eq!(
            one,
            MarkdownResponse {
                html: Some("<p><em>a</em></p>\n".into()),
                htmls: None
            }
        );
        let many = render_request(&MarkdownRequest {
            text: None,
            texts: Some(vec!["a".into(), "`b`".into()]),
        })
        .unwrap();
        assert_eq!(
            many.htmls,
            Some(vec![
                "<p>a</p>\n".to_string(),
                "<p><code>b</code></p>\n".to_string()
            ])
        );
        assert!(matches!(
            render_request(&MarkdownRequest::default()),
            Err(Error::BadRequest(_))
        ));
        let too_many = MarkdownRequest {
            text: None,
            texts: Some(vec![String::new(); MAX_MARKDOWN_BATCH + 1]),
        };
        assert!(matches!(
            render_request(&too_many),
            Err(Error::BadRequest(_))
        ));
        let too_big = MarkdownRequest {
            text: Some("x".repeat(MAX_MARKDOWN_BYTES + 1)),
            texts: None,
        };
        assert!(matches!(
            render_request(&too_big),
            Err(Error::BadRequest(_))
        ));
        // Unknown fields are ignored; a wrong type is a decode error (400 through the route).
        let req: MarkdownRequest = serde_json::from_str(r#"{"text":"x","colour":"blue"}"#).unwrap();
        assert_eq!(req.text.as_deref(), Some("x"));
        assert!(serde_json::from_str::<MarkdownRequest>(r#"{"texts":"x"}"#).is_err());
    }

    #[test]
    fn empty_and_truncated_input_render_without_panicking() {
        assert_eq!(render_markdown(""), "");
        assert_eq!(
            render_markdown("```rust\nunterminated"),
            "<pre><code class=\"language-rust\">unterminated</code></pre>\n"
        );
    }
}
