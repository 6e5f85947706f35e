/*
** libFuzzer target: help-centre Markdown through em_kb_markdown_html and
** em_kb_markdown_text. Article bodies are written by operators but shown to
** every visitor: whatever comes in, no raw tag, event handler or script
** link may come out.
*/
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "kb/kb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *html = em_kb_markdown_html((const char *)data, size);
	/* cmark's safe mode: raw HTML is replaced by a comment, unsafe URLs are
	** emptied. */
	if (strcasestr(html, "<script") || strcasestr(html, "href=\"javascript:") ||
	    strcasestr(html, "src=\"javascript:") || strcasestr(html, "<iframe"))
		abort();
	em_free(html);
	char *text = em_kb_markdown_text((const char *)data, size);
	em_free(text);
	return 0;
}
