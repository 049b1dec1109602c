/**
 * RFC 9110 token characters (§5.6.2): what a header name may be made of. Anything else makes
 * fetch throw when the header is sent, so configuration and middleware options check it up front.
 */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
