/**
 * Values sealed the way plain-session's older formats wrote them, written here independently of
 * lib/stores/seal.ts, so that a test can check that cookies from before an upgrade still open.
 * `v1` authenticated no additional data; `v2` the cookie name. Both used the keys that `v3` uses.
 */
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';

/** `plaintext` sealed with `secret` under `prefix` (`v1.` or `v2.`, or any label a test relabels to), with `aad` or none. */
export function sealAsOlderVersion(secret: string, prefix: string, aad: string | undefined, plaintext: string): string {
  const key = Buffer.from(hkdfSync('sha256', secret, 'plain-session', 'plain-session cookie v1 key', 32));
  const keyId = Buffer.from(hkdfSync('sha256', secret, 'plain-session', 'plain-session cookie v1 key id', 4));
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  if (aad !== undefined) cipher.setAAD(Buffer.from(aad));
  const body = cipher.update(plaintext, 'utf8');
  cipher.final();
  return prefix + Buffer.concat([keyId, iv, body, cipher.getAuthTag()]).toString('base64url');
}
