/*
 * fuzz_verify: each verify scheme's parsing of a request's headers
 * (src/verify.c).  The input: one byte choosing the scheme and options,
 * then header lines "Name: value" up to an empty line, then the body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model.h"
#include "util.h"
#include "verify.h"

#define MAX_HEADERS 16

struct headers {
	char *name[MAX_HEADERS], *value[MAX_HEADERS];
	size_t n;
};

static const char *lookup(void *data, const char *name)
{
	struct headers *h = data;

	for (size_t i = 0; i < h->n; i++) {
		if (strcasecmp(h->name[i], name) == 0)
			return h->value[i];
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const schemes[] = {
		"github", "hmac-sha256", "slack", "standard-webhooks", "stripe",
		"token",
	};
	static const char *const secrets[] = {
		"", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "s3cret",
	};
	struct headers h = { .n = 0 };
	struct fr_verify v;
	struct fr_verify_input in;
	char *text, *p, *nl;
	const char *why;

	if (size < 1)
		return 0;
	memset(&v, 0, sizeof(v));
	v.scheme = (char *)schemes[data[0] % 6];
	v.header = data[0] & 0x08 ? "Authorization" : "X-Signature";
	v.prefix = data[0] & 0x10 ? "sha256=" : NULL;
	v.encoding = data[0] & 0x20 ? "base64" : data[0] & 0x40 ? "hex" : NULL;
	v.tolerance_ms = data[0] & 0x80 ? 1000 : 0;
	text = fr_xmalloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	/* headers up to an empty line; NUL ends the header part */
	p = text;
	while (h.n < MAX_HEADERS && (nl = strchr(p, '\n')) && nl != p) {
		char *colon;
		*nl = '\0';
		if ((colon = strchr(p, ':'))) {
			*colon = '\0';
			h.name[h.n] = p;
			h.value[h.n] = colon + 1 + (colon[1] == ' ');
			h.n++;
		}
		p = nl + 1;
	}
	if ((nl = strchr(p, '\n')) && nl == p)
		p++;
	in.body = p;
	in.len = (size - 1) - (size_t)(p - text);
	in.header = lookup;
	in.header_data = &h;
	in.now = 1700000000;
	fr_verify_check(&v, secrets, 3, &in, &why);
	fr_verify_check(&v, secrets + 1, 1, &in, &why);
	free(text);
	return 0;
}
