/*
 * form: application/x-www-form-urlencoded bodies made from JSON objects.
 *
 * Each member of the object is one NAME=VALUE pair; nested values take the
 * bracket form that Stripe (and Rails, PHP) read, one pair per leaf:
 *
 *   {"email": "a@b.test", "metadata": {"plan": "pro"},
 *    "enabled_events": ["customer.created", "customer.deleted"]}
 *
 *   email=a%40b.test&metadata%5Bplan%5D=pro
 *   &enabled_events%5B0%5D=customer.created&enabled_events%5B1%5D=customer.deleted
 *
 * (one line).  Names and values are percent-encoded as fr_http_urlencode
 * does (all but RFC 3986's unreserved characters, a space as %20), which
 * every form decoder reads back as written; the brackets are encoded too.
 * A string is sent as it is, another scalar as compact JSON (true, 3, 1.5);
 * null is left out, also inside lists, whose other elements are numbered
 * from 0 in order; an empty object or list is sent as NAME= (the empty value
 * Stripe takes for "clear this").  A value that is not an object gives no
 * pairs.
 */
#ifndef FR_FORM_H
#define FR_FORM_H

#include <jansson.h>

#include "util.h"

/* Appends the encoding of obj to b (nothing for an empty object). */
void fr_form_encode(struct fr_buf *b, const json_t *obj);

#endif
