/*
 * json-strict.c - exactly one JSON value, strictly.  See json-strict.h.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json-strict.h"

static int is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int fail(size_t *offset, const char **why, size_t at, const char *what)
{
    *offset = at;
    *why = what;
    return -1;
}

int ember_json_parse(struct json_tokener *tok, const char *s, size_t n,
                     struct json_object **out, size_t *offset, const char **why)
{
    struct json_tokener    *own = NULL;
    struct json_object     *root;
    enum json_tokener_error jerr;
    const char             *nul;
    size_t                  end;

    *out = NULL;
    if (n > INT_MAX - 1)
        return fail(offset, why, 0, "too large");
    if (s == NULL)
        s = "";
    nul = memchr(s, '\0', n);
    if (nul != NULL)
        return fail(offset, why, (size_t) (nul - s), "NUL byte");
    if (tok == NULL) {
        own = json_tokener_new();
        if (own == NULL)
            abort();
        tok = own;
    }
    json_tokener_reset(tok);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    root = json_tokener_parse_ex(tok, s, (int) n);
    jerr = json_tokener_get_error(tok);
    end = json_tokener_get_parse_end(tok);
    if (jerr == json_tokener_continue) {
        /* the end of the input: lets a bare number or literal finish */
        root = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        end = n;
    }
    if (jerr != json_tokener_success) {
        json_object_put(root);
        fail(offset, why, end > n ? n : end, json_tokener_error_desc(jerr));
        if (own != NULL)
            json_tokener_free(own);     /* json-c's free does not take NULL */
        return -1;
    }
    if (own != NULL)
        json_tokener_free(own);
    while (end < n && is_json_space(s[end]))
        end++;
    if (end < n) {
        json_object_put(root);
        return fail(offset, why, end, "trailing data");
    }
    *out = root;
    return 0;
}
