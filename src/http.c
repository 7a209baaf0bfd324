#include "http.h"
#include "util.h"

#include <curl/curl.h>

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Cap on the bytes of response headers we keep (curl caps single lines). */
#define MAX_HEADER_BYTES ((size_t)1 << 20)

struct fr_http {
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
};

/* State of one transfer, filled by the write and header callbacks. */
struct collect {
	struct fr_buf body;
	size_t max_body;
	bool body_too_big;
	struct fr_http_header *headers;
	size_t nheaders, cap;
	size_t header_bytes;
	bool headers_too_big;
};

static bool global_done;

int fr_http_global_init(void)
{
	if (global_done)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	global_done = true;
	return 0;
}

void fr_http_global_cleanup(void)
{
	if (!global_done)
		return;
	curl_global_cleanup();
	global_done = false;
}

struct fr_http *fr_http_create(void)
{
	struct fr_http *h = fr_xcalloc(1, sizeof(*h));

	h->curl = curl_easy_init();
	if (!h->curl) {
		free(h);
		return NULL;
	}
	return h;
}

void fr_http_destroy(struct fr_http *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->curl);
	free(h);
}

static void free_headers(struct fr_http_header *hs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(hs[i].name);
		free(hs[i].value);
	}
	free(hs);
}

void fr_http_response_finish(struct fr_http_response *r)
{
	if (!r)
		return;
	free_headers(r->headers, r->nheaders);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

const char *fr_http_response_header(const struct fr_http_response *r,
				    const char *lname)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->headers[i].name, lname) == 0)
			return r->headers[i].value;
	}
	return NULL;
}

/*
 * RFC 3986 section 2.3: only ALPHA / DIGIT / "-" / "." / "_" / "~" stay as
 * they are; everything else, including every byte of UTF-8, becomes %XX.
 * Written by hand, not with curl_easy_escape, because that needs a handle.
 */
char *fr_http_urlencode(const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = fr_xmalloc(len * 3 + 1);
	char *p = out;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}

char *fr_http_url_resolve(const char *base, const char *ref)
{
	CURLU *u = curl_url();
	char *got = NULL, *out = NULL;

	if (!u)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &got, 0) == CURLUE_OK)
		out = fr_xstrdup(got);
	curl_free(got);
	curl_url_cleanup(u);
	return out;
}

char *fr_http_url_origin(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;

	if (!u)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		out = fr_xasprintf("%s://%s:%s", scheme, host, port);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return out;
}

const char *fr_http_curl_version(void)
{
	return curl_version_info(CURLVERSION_NOW)->version;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct collect *c = userdata;
	size_t n = size * nmemb;

	if (n > c->max_body - c->body.len) {
		c->body_too_big = true;
		return 0;	/* makes curl stop with CURLE_WRITE_ERROR */
	}
	fr_buf_add(&c->body, data, n);
	return n;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * curl calls this once per header line, CRLF included, for every response
 * it reads: 1xx interim responses, proxy CONNECT answers and (were they
 * followed) redirects each bring their own status line and block.  Only the
 * last block describes the response we return, so a status line starts the
 * list afresh.
 */
static size_t on_header(char *data, size_t size, size_t nmemb,
			void *userdata)
{
	struct collect *c = userdata;
	size_t n = size * nmemb, len = n, nlen;
	const char *colon, *v;
	struct fr_http_header *hdr;

	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		free_headers(c->headers, c->nheaders);
		c->headers = NULL;
		c->nheaders = c->cap = 0;
		c->header_bytes = 0;
		return n;
	}
	c->header_bytes += n;
	if (c->header_bytes > MAX_HEADER_BYTES) {
		c->headers_too_big = true;
		return 0;
	}
	while (len > 0 && is_blank(data[len - 1]))
		len--;
	if (len == 0)
		return n;	/* the blank line that ends a block */
	if ((data[0] == ' ' || data[0] == '\t') && c->nheaders > 0) {
		/* obsolete line folding: the value goes on */
		hdr = &c->headers[c->nheaders - 1];
		v = data;
		while (is_blank(*v))
			v++;
		char *joined = fr_xasprintf("%s %.*s", hdr->value,
					    (int)(data + len - v), v);
		free(hdr->value);
		hdr->value = joined;
		return n;
	}
	colon = memchr(data, ':', len);
	if (!colon)
		return n;	/* not a header; nothing to keep */
	nlen = (size_t)(colon - data);
	while (nlen > 0 && is_blank(data[nlen - 1]))
		nlen--;
	v = colon + 1;
	while (v < data + len && is_blank(*v))
		v++;
	fr_grow(&c->headers, &c->cap, c->nheaders + 1, sizeof(*c->headers));
	hdr = &c->headers[c->nheaders++];
	hdr->name = fr_xstrndup(data, nlen);
	for (char *p = hdr->name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	hdr->value = fr_xstrndup(v, (size_t)(data + len - v));
	return n;
}

/* RFC 9110 token characters: what a method and a header name may hold. */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (!isalnum(c) && !strchr("!#$%&'*+-.^_`|~", c))
			return false;
	}
	return true;
}

static bool has_header(const struct fr_http_request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++) {
		if (strcasecmp(req->headers[i].name, name) == 0)
			return true;
	}
	return false;
}

static int append_header(struct curl_slist **list, char *line)
{
	struct curl_slist *l = curl_slist_append(*list, line);

	free(line);
	if (!l)
		return -1;
	*list = l;
	return 0;
}

/*
 * Builds the header list curl sends.  The caller's headers go as given;
 * "Name;" is curl's spelling for an empty value ("Name:" would remove the
 * header instead).  Two of curl's own defaults are switched off unless the
 * caller sets them: "Expect: 100-continue" (a round trip that many APIs do
 * not answer) and the form Content-Type curl puts on every POST body (our
 * bodies are JSON or whatever the caller says, never a guess).
 */
static int build_headers(const struct fr_http_request *req,
			 struct curl_slist **out, char **err)
{
	struct curl_slist *list = NULL;
	int error = -1;

	*out = NULL;
	for (size_t i = 0; i < req->nheaders; i++) {
		const struct fr_http_header *hd = &req->headers[i];
		const char *value = hd->value ? hd->value : "";

		if (!hd->name || !is_token(hd->name)) {
			*err = fr_xstrdup("invalid request header name");
			goto cleanup;
		}
		if (strpbrk(value, "\r\n")) {
			*err = fr_xasprintf("request header '%s' has a line "
					    "break in its value", hd->name);
			goto cleanup;
		}
		if (append_header(&list, *value ?
				  fr_xasprintf("%s: %s", hd->name, value) :
				  fr_xasprintf("%s;", hd->name)) < 0)
			goto oom;
	}
	if (!has_header(req, "Expect") &&
	    append_header(&list, fr_xstrdup("Expect:")) < 0)
		goto oom;
	if (req->body && !has_header(req, "Content-Type") &&
	    append_header(&list, fr_xstrdup("Content-Type:")) < 0)
		goto oom;
	*out = list;
	list = NULL;
	error = 0;
	goto cleanup;
oom:
	*err = fr_xstrdup("out of memory building request headers");
cleanup:
	curl_slist_free_all(list);
	return error;
}

/*
 * Sets the method and body.  GET and HEAD use curl's own modes (a custom
 * "HEAD" would wait for a body that never comes).  A body goes through
 * POSTFIELDS with an explicit size, so it may hold NULs, and any other verb
 * is written over POST with CUSTOMREQUEST.  POST, PUT and PATCH without a
 * body still send "Content-Length: 0", which some servers insist on.
 */
static CURLcode set_method(CURL *curl, const char *method,
			   const struct fr_http_request *req)
{
	CURLcode rc = CURLE_OK;
	bool wants_length = strcmp(method, "POST") == 0 ||
			    strcmp(method, "PUT") == 0 ||
			    strcmp(method, "PATCH") == 0;

	if (strcmp(method, "HEAD") == 0)
		return curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	if (req->body || wants_length) {
		curl_off_t len = req->body ? (curl_off_t)req->body_len : 0;

		rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, len);
		if (!rc)
			rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDS,
					      req->body ? req->body : "");
		if (!rc && strcmp(method, "POST") != 0)
			rc = curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST,
					      method);
		return rc;
	}
	if (strcmp(method, "GET") == 0)
		return curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	return curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
}

static bool has_scheme(const char *word, size_t n)
{
	for (size_t i = 0; i + 3 <= n; i++) {
		if (memcmp(word + i, "://", 3) == 0)
			return true;
	}
	return false;
}

/*
 * curl's detail text names the host and port at most, but a proxy or
 * redirect message could quote a whole URL: blank any word holding "://".
 * The first letter is lowered to match our message style, except in
 * acronyms ("SSL certificate problem").
 */
static char *clean_detail(const char *detail)
{
	struct fr_buf b;
	const char *p = detail;

	fr_buf_init(&b);
	while (*p) {
		size_t n = strcspn(p, " \t\r\n");

		if (n == 0) {
			if (*p != '\r' && *p != '\n')
				fr_buf_putc(&b, *p);
			p++;
			continue;
		}
		if (has_scheme(p, n))
			fr_buf_puts(&b, "<url>");
		else
			fr_buf_add(&b, p, n);
		p += n;
	}
	while (b.len > 0 && (b.data[b.len - 1] == ' ' ||
			     b.data[b.len - 1] == '.'))
		b.data[--b.len] = '\0';
	if (b.len >= 2 && isupper((unsigned char)b.data[0]) &&
	    islower((unsigned char)b.data[1]))
		b.data[0] = (char)tolower((unsigned char)b.data[0]);
	return fr_buf_steal(&b);
}

static const char *errno_words(long e)
{
	switch (e) {
	case ECONNREFUSED:
		return "connection refused";
	case ECONNRESET:
		return "connection reset by the server";
	case ENETUNREACH:
		return "network unreachable";
	case EHOSTUNREACH:
		return "host unreachable";
	default:
		return NULL;
	}
}

/* Turns a failed transfer into one message in plain words, without URL. */
static char *describe(struct fr_http *h, CURLcode rc, const struct collect *c,
		      long timeout_ms)
{
	long os_errno = 0;
	const char *words;

	curl_easy_getinfo(h->curl, CURLINFO_OS_ERRNO, &os_errno);
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return fr_xasprintf("timed out after %ld ms", timeout_ms);
	case CURLE_WRITE_ERROR:
		if (c->body_too_big)
			return fr_xasprintf("response body larger than %zu "
					    "bytes", c->max_body);
		if (c->headers_too_big)
			return fr_xasprintf("response headers larger than %zu "
					    "bytes", MAX_HEADER_BYTES);
		break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		words = errno_words(os_errno);
		if (words)
			return fr_xstrdup(words);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		return fr_xstrdup("cannot resolve the host name");
	case CURLE_COULDNT_RESOLVE_PROXY:
		return fr_xstrdup("cannot resolve the proxy's host name");
	case CURLE_UNSUPPORTED_PROTOCOL:
		return fr_xstrdup("unsupported URL scheme (http and https "
				  "only)");
	case CURLE_URL_MALFORMAT:
		return fr_xstrdup("malformed URL");
	case CURLE_GOT_NOTHING:
		return fr_xstrdup("the server closed the connection without "
				  "answering");
	case CURLE_OUT_OF_MEMORY:
		return fr_xstrdup("out of memory");
	default:
		break;
	}
	if (h->errbuf[0])
		return clean_detail(h->errbuf);
	return clean_detail(curl_easy_strerror(rc));
}

static int on_debug(CURL *curl, curl_infotype type, char *data, size_t size,
		    void *userdata)
{
	const struct fr_http_tap *tap = userdata;

	(void)curl;
	if (type == CURLINFO_HEADER_OUT)
		tap->fn(tap->data, FR_HTTP_SENT_HEAD, data, size);
	else if (type == CURLINFO_HEADER_IN)
		tap->fn(tap->data, FR_HTTP_RECEIVED_LINE, data, size);
	return 0;
}

/*
 * Every option is set again for each request after curl_easy_reset, which
 * forgets all options (so a POST body or a header can never leak into the
 * next request) but keeps live connections, so keep-alive still works.
 */
int fr_http_send(struct fr_http *h, const struct fr_http_request *req,
		 struct fr_http_response *out, char **err)
{
	struct collect c = { .max_body = req->max_body ? req->max_body
						       : FR_HTTP_MAX_BODY };
	struct curl_slist *headers = NULL;
	const char *method = req->method ? req->method : "GET";
	long timeout_ms = req->timeout_ms > 0 ? req->timeout_ms
					      : FR_HTTP_TIMEOUT_MS;
	uint64_t start;
	CURLcode rc;
	CURL *curl = h->curl;
	int error = -1;

	memset(out, 0, sizeof(*out));
	*err = NULL;
	fr_buf_init(&c.body);
	if (!req->url || !*req->url) {
		*err = fr_xstrdup("no URL");
		goto cleanup;
	}
	if (!is_token(method)) {
		*err = fr_xstrdup("invalid HTTP method");
		goto cleanup;
	}
	if (build_headers(req, &headers, err) < 0)
		goto cleanup;

	curl_easy_reset(curl);
	h->errbuf[0] = '\0';
	/* rc |= keeps this list readable; any failure is reported below */
	rc = curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, h->errbuf);
	rc |= curl_easy_setopt(curl, CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	rc |= curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	rc |= curl_easy_setopt(curl, CURLOPT_PROTOCOLS,
			       (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	rc |= curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	rc |= curl_easy_setopt(curl, CURLOPT_USERAGENT,
			       "flowrun/" FLOWRUN_VERSION);
	rc |= curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	rc |= curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	rc |= curl_easy_setopt(curl, CURLOPT_WRITEDATA, &c);
	rc |= curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	rc |= curl_easy_setopt(curl, CURLOPT_HEADERDATA, &c);
	rc |= set_method(curl, method, req);
	if (req->tap) {
		rc |= curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, on_debug);
		rc |= curl_easy_setopt(curl, CURLOPT_DEBUGDATA, req->tap);
		rc |= curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
	}
	if (rc != CURLE_OK) {
		*err = fr_xstrdup("cannot set up the request (libcurl "
				  "refused an option)");
		goto cleanup;
	}

	start = fr_now_ns();
	rc = curl_easy_perform(curl);
	out->elapsed_ns = fr_now_ns() - start;
	if (rc != CURLE_OK) {
		*err = describe(h, rc, &c, timeout_ms);
		goto cleanup;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
	out->headers = c.headers;
	out->nheaders = c.nheaders;
	c.headers = NULL;
	c.nheaders = 0;
	out->body_len = c.body.len;
	out->body = fr_buf_steal(&c.body);
	error = 0;
cleanup:
	/* drop the handle's pointers into req, headers and c before they go */
	curl_easy_reset(curl);
	curl_slist_free_all(headers);
	free_headers(c.headers, c.nheaders);
	fr_buf_finish(&c.body);
	return error;
}
