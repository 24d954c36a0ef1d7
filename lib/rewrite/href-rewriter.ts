import { isUtf8 } from 'node:buffer';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { SaxesParser } from 'saxes';

const DAV_NS = 'DAV:';

// An href longer than this is passed on unchanged rather than held: no client path is that long,
// and the rewriter's memory stays bounded whatever the backend sends.
const MAX_HREF_CHARS = 64 * 1024;

export interface HrefRewriterOptions {
  /**
   * For bodies whose hrefs must all be judged (a client's request): a body that is not
   * well-formed UTF-8 XML, an href holding elements or longer than 64 KiB, or a `map` that throws
   * fails the stream with that error instead of being passed on unchanged.
   */
  strict?: (problem: string, cause?: unknown) => Error;
}

/**
 * A stream that copies an XML body unchanged except for the text of its `DAV:href` elements,
 * which goes through `map`. Namespace prefixes are resolved (`D:href`, `d:href`, a default
 * namespace), entities and CDATA are decoded before `map` and the result is escaped again; an href
 * that `map` leaves unchanged keeps its exact bytes. Memory is bounded by one chunk plus one href.
 * A body that is not well-formed UTF-8 XML is passed on unchanged from the point where it fails,
 * unless `strict` says how to fail.
 *
 * @example
 * backendResponse.pipe(hrefRewriter((href) => href.replace('/remote.php/', '/dav/'))).pipe(res);
 */
export function hrefRewriter(
  map: (href: string) => string,
  options: HrefRewriterOptions = {},
): Transform {
  return new HrefRewriter(map, options.strict);
}

class HrefRewriter extends Transform {
  private readonly parser = new SaxesParser({ xmlns: true, position: true });
  private readonly mapHref: (href: string) => string;
  /** Decoded text not passed on yet; `text[0]` sits at parser position `textStart`. */
  private text = '';
  private textStart = 0;
  /** Bytes of an incomplete UTF-8 character at the end of the last chunk. */
  private carry: Buffer | undefined;
  private out: string[] = [];
  /** -1 outside a DAV:href, else how many elements deep inside it (0: in its own content). */
  private hrefDepth = -1;
  /** Whether the current href's content is held back to be mapped (it may be given up). */
  private capturing = false;
  private hrefStart = 0;
  private hrefText = '';
  /** Set when the body cannot be parsed: from there on it is copied as it comes. */
  private failed = false;
  private readonly strict: HrefRewriterOptions['strict'];
  /** In strict mode, why the body cannot be passed on. */
  private refusal: Error | undefined;

  constructor(map: (href: string) => string, strict: HrefRewriterOptions['strict']) {
    super();
    this.mapHref = map;
    this.strict = strict;
    const parser = this.parser;
    parser.on('opentag', (tag) => {
      if (this.failed) return;
      if (this.hrefDepth >= 0) {
        // Elements inside an href are not WebDAV: leave the whole href alone.
        this.hrefDepth++;
        this.capturing = false;
        this.refuse('an href holds an element');
      } else if (tag.local === 'href' && tag.uri === DAV_NS) {
        this.hrefDepth = 0;
        // saxes reports a self-closing tag's end at once: there is no content to hold.
        this.capturing = !tag.isSelfClosing;
        this.hrefStart = parser.position;
        this.hrefText = '';
      }
    });
    const addText = (text: string): void => {
      if (this.capturing && !this.failed) this.hrefText += text;
    };
    parser.on('text', addText);
    parser.on('cdata', addText);
    parser.on('closetag', () => {
      if (this.failed || this.hrefDepth < 0) return;
      if (this.hrefDepth > 0) {
        this.hrefDepth--;
        return;
      }
      this.hrefDepth = -1;
      if (!this.capturing) return;
      this.capturing = false;
      // The end tag is the last `<` read: it holds no other.
      const tagStart = this.text.lastIndexOf('<', parser.position - this.textStart - 1);
      this.replaceHref(this.textStart + tagStart);
    });
    parser.on('error', () => {
      this.failed = true;
      this.refuse('the body is not well-formed XML');
    });
  }

  /** Strict mode: remembers the first reason the body cannot be passed on. */
  private refuse(problem: string, cause?: unknown): void {
    if (this.strict !== undefined && this.refusal === undefined) {
      this.refusal = this.strict(problem, cause);
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.failed) {
      done(this.refusal, this.refusal === undefined ? chunk : undefined);
      return;
    }
    const bytes = this.carry === undefined ? chunk : Buffer.concat([this.carry, chunk]);
    const end = completeUtf8Length(bytes);
    this.carry = end < bytes.length ? bytes.subarray(end) : undefined;
    if (!isUtf8(bytes.subarray(0, end))) {
      this.refuse('the body is not UTF-8');
      this.giveUp(bytes);
    } else {
      this.feed(bytes.toString('utf8', 0, end));
    }
    done(this.refusal);
  }

  override _flush(done: TransformCallback): void {
    if (!this.failed) {
      if (this.carry === undefined) this.parser.close();
      else this.refuse('the body ends inside a UTF-8 character');
      this.giveUp(this.carry);
    }
    done(this.refusal);
  }

  private feed(text: string): void {
    this.text += text;
    this.parser.write(text);
    if (this.capturing && this.textStart + this.text.length - this.hrefStart > MAX_HREF_CHARS) {
      this.capturing = false;
      this.refuse('an href is longer than 64 KiB');
    }
    if (this.failed) {
      this.giveUp(undefined);
      return;
    }
    // Outside an href everything read so far is final; inside one, its content waits for its end.
    this.emitUpTo(this.capturing ? this.hrefStart : this.textStart + this.text.length);
    this.pushOut();
  }

  /** Passes on what is held, then `rest` as it is, and copies everything after it unchanged. */
  private giveUp(rest: Buffer | undefined): void {
    this.failed = true;
    this.capturing = false;
    this.emitUpTo(this.textStart + this.text.length);
    this.pushOut();
    if (rest !== undefined) this.push(rest);
  }

  /** Replaces the content of the href that ends at parser position `end`, if `map` changes it. */
  private replaceHref(end: number): void {
    const href = this.hrefText.trim();
    let mapped: string;
    try {
      mapped = this.mapHref(href);
    } catch (err) {
      // Only a strict rewriter's map refuses an href; a lenient one keeps it as it is.
      this.refuse(err instanceof Error ? err.message : 'an href is refused', err);
      mapped = href;
    }
    if (mapped === href) return;
    const lead = this.hrefText.slice(0, this.hrefText.indexOf(href));
    const tail = this.hrefText.slice(lead.length + href.length);
    this.emitUpTo(this.hrefStart);
    this.out.push(escapeXml(`${lead}${mapped}${tail}`));
    this.text = this.text.slice(end - this.textStart);
    this.textStart = end;
  }

  /** Queues the text up to parser position `position` for output. */
  private emitUpTo(position: number): void {
    const count = position - this.textStart;
    if (count <= 0) return;
    this.out.push(this.text.slice(0, count));
    this.text = this.text.slice(count);
    this.textStart = position;
  }

  private pushOut(): void {
    if (this.out.length === 0) return;
    this.push(Buffer.from(this.out.join(''), 'utf8'));
    this.out = [];
  }
}

/** Length of the longest prefix of `bytes` that does not end inside a UTF-8 character. */
function completeUtf8Length(bytes: Buffer): number {
  const length = bytes.length;
  for (let back = 1; back <= Math.min(4, length); back++) {
    const byte = bytes[length - back] ?? 0;
    if ((byte & 0xc0) === 0x80) continue;
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return back >= needed ? length : length - back;
  }
  return length;
}

function escapeXml(text: string): string {
  return text.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}
