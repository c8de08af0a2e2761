#!/usr/bin/env python3
"""make-man.py FRAME OUT: a man page (roff, man macros) from a markdown frame.

The frames (docs/man/*.md) hold what only a man page has (NAME, SYNOPSIS, FILES...)
and include the reference pages the README is assembled from, so the man pages and
the README cannot drift apart:

  @include reference/cluster.md    the page, its top heading a section (.SH), the
                                   next level subsections (.SS), deeper ones bold
  @synopsis                        every synopsis block of the included pages (a
                                   code block whose first line starts "regvault ")

The first line of a frame is the .TH line's title, section and manual:
  % REGVAULT 1 "User Commands"
Markdown understood: ATX headings, paragraphs, fenced code, pipe tables (as .TP
lists: first cell the tag, middle cells "Header: value", last cell the text), "- "
lists with indented continuations, `code`, *emphasis*, **strong**, [links](...).
Version and date come from common/common.h and SOURCE_DATE_EPOCH (else the newest
input's mtime), so a build is reproducible. Python 3 standard library only.
"""
import os
import re
import sys
import time

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
# Relative links of the reference pages, as they are found on an installed system.
INSTALLED_DOC = "/usr/share/doc/regvault"
SKIPPED_HEADINGS = {"Tests"}  # how the tree is tested is no part of a manual


def version():
    with open(os.path.join(ROOT, "common/common.h")) as f:
        m = re.search(r'#define RV_VERSION "([^"]*)"', f.read())
    return m.group(1) if m else "unknown"


def escape(text):
    """roff-escape plain text: backslashes, hyphens (as \\- so options copy and
    paste as ASCII), and every non-ASCII character as \\[uXXXX]."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\e")
        elif ch == "-":
            out.append("\\-")
        elif ord(ch) > 127:
            out.append("\\[u%04X]" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def link_text(text, target):
    if target.startswith("#") or re.match(r"^[A-Za-z0-9_-]+\.md(#.*)?$", target):
        return text  # an anchor or another reference page: all of it is in the man pages
    if "://" in target:
        return "%s <%s>" % (text, target)
    m = re.match(r"^\.\./(.*)$", target)  # docs/<x> relative to docs/reference/
    if m:
        return "%s (%s/%s)" % (text, INSTALLED_DOC, m.group(1))
    return text


def inline(text):
    """Markdown inline markup to roff: code bold, emphasis italic."""
    text = re.sub(r"\[([^\]]*)\]\(([^)]*)\)", lambda m: link_text(m.group(1), m.group(2)), text)
    out = []
    pos = 0
    for m in re.finditer(r"`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*", text):
        out.append(escape(text[pos:m.start()]))
        if m.group(1) is not None:
            code = escape(m.group(1))
            if len(m.group(1)) > 30:  # a long path or list: let it break after / and ,
                code = code.replace("/", "/\\:").replace(",", ",\\:")
            out.append("\\fB" + code + "\\fR")
        elif m.group(2) is not None:
            out.append("\\fB" + escape(m.group(2)) + "\\fR")
        else:
            out.append("\\fI" + escape(m.group(3)) + "\\fR")
        pos = m.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def line_out(s):
    """A text line roff will not take for a request."""
    return "\\&" + s if s[:1] in (".", "'") else s


def split_row(row):
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    cells = re.split(r"(?<!\\)\|", row)
    return [c.strip().replace("\\|", "|") for c in cells]


class Page:
    def __init__(self):
        self.out = []

    def emit(self, s):
        self.out.append(s)

    def heading(self, level, text):
        text = text.strip()
        if level == 1:
            self.emit(".SH")
            self.emit(line_out(inline(text.upper())))
        elif level == 2:
            self.emit(".SS")
            self.emit(line_out(inline(text)))
        else:
            self.emit(".PP")
            self.emit(line_out("\\fB" + inline(text) + "\\fR"))

    def paragraph(self, lines):
        self.emit(".PP")
        for ln in lines:
            self.emit(line_out(inline(ln.strip())))

    def code(self, lines):
        self.emit(".PP")
        self.emit(".RS 4")
        self.emit(".nf")
        for ln in lines:
            self.emit(line_out(escape(ln)) if ln else "")
        self.emit(".fi")
        self.emit(".RE")

    def table(self, rows):
        header = split_row(rows[0])
        for row in rows[2:]:
            cells = split_row(row)
            cells += [""] * (len(header) - len(cells))
            self.emit(".TP")
            self.emit(line_out(inline(cells[0])))
            middle = ["%s: %s" % (escape(h), inline(c)) for h, c in zip(header[1:-1], cells[1:-1]) if c]
            text = inline(cells[-1]) if len(cells) > 1 else ""
            if middle:
                self.emit(line_out("(" + "; ".join(middle) + ")"))
            if text:
                self.emit(line_out(text))

    def bullet(self, lines):
        self.emit(".IP \\(bu 2")
        for ln in lines:
            self.emit(line_out(inline(ln.strip())))


def read_page(rel):
    with open(os.path.join(DOCS, rel)) as f:
        return f.read().split("\n")


def synopsis_blocks(lines):
    """The code blocks of a page whose first line is a regvault command line."""
    blocks, cur, in_code = [], None, False
    for ln in lines:
        if ln.startswith("```"):
            if in_code:
                if cur and cur[0].startswith("regvault "):
                    blocks.append(cur)
                cur, in_code = None, False
            else:
                cur, in_code = [], True
        elif in_code:
            cur.append(ln)
    return blocks


def render(page, lines, shift):
    """Markdown lines into page; a heading of level n becomes level n + shift."""
    i, skip_level = 0, None
    while i < len(lines):
        ln = lines[i]
        m = re.match(r"^(#+)\s+(.*)$", ln)
        if m:
            level = len(m.group(1)) + shift
            if skip_level is not None and level > skip_level:
                i += 1
                continue
            skip_level = None
            if m.group(2).strip() in SKIPPED_HEADINGS:
                skip_level = level
                i += 1
                continue
            page.heading(max(level, 1), m.group(2))
            i += 1
            continue
        if skip_level is not None:
            i += 1
            continue
        if ln.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            page.code(lines[i + 1:j])
            i = j + 1
            continue
        if ln.startswith("|"):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            page.table(lines[i:j])
            i = j
            continue
        if re.match(r"^- ", ln):
            item = [ln[2:]]
            j = i + 1
            while j < len(lines) and re.match(r"^  +\S", lines[j]) and not lines[j].lstrip().startswith("- "):
                item.append(lines[j])
                j += 1
            page.bullet(item)
            i = j
            continue
        if not ln.strip():
            i += 1
            continue
        j = i
        while j < len(lines) and lines[j].strip() and not re.match(r"^(#+\s|```|\||- )", lines[j]):
            j += 1
        page.paragraph(lines[i:j])
        i = j


def page_shift(lines):
    """How far to move a page's headings so that its top one becomes level 1."""
    levels, in_code = [], False
    for ln in lines:
        if ln.startswith("```"):
            in_code = not in_code
        elif not in_code:
            m = re.match(r"^(#+)\s", ln)
            if m:
                levels.append(len(m.group(1)))
    return 1 - min(levels) if levels else 0


def main():
    frame_path, out_path = sys.argv[1], sys.argv[2]
    with open(frame_path) as f:
        frame = f.read().split("\n")
    m = re.match(r'^%\s+(\S+)\s+(\S+)\s+"([^"]*)"', frame[0])
    if not m:
        sys.exit("%s: the first line must be: %% TITLE SECTION \"MANUAL\"" % frame_path)
    title, section, manual = m.groups()
    inputs = [frame_path, os.path.join(ROOT, "common/common.h")]
    body = frame[1:]
    includes = [ln.split(None, 1)[1].strip() for ln in body if ln.startswith("@include ")]
    inputs += [os.path.join(DOCS, rel) for rel in includes]
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    stamp = int(epoch) if epoch else int(max(os.path.getmtime(p) for p in inputs))
    date = time.strftime("%Y-%m-%d", time.gmtime(stamp))

    page = Page()
    page.emit('.TH %s %s %s "regvault %s" "%s"' % (title, section, date, version(), manual))
    # Left-aligned, no hyphenation: option names and keys are never broken at a hyphen.
    page.emit(".nh")
    page.emit(".ad l")
    chunk = []

    def flush():
        render(page, chunk, 0)
        chunk.clear()

    for ln in body:
        if ln.startswith("@include "):
            flush()
            lines = read_page(ln.split(None, 1)[1].strip())
            render(page, lines, page_shift(lines))
        elif ln.strip() == "@synopsis":
            flush()
            page.emit(".nf")
            for rel in includes:
                for block in synopsis_blocks(read_page(rel)):
                    for s in block:
                        page.emit(line_out(escape(s)))
            page.emit(".fi")
        else:
            chunk.append(ln)
    flush()
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(page.out) + "\n")
    os.replace(tmp, out_path)


if __name__ == "__main__":
    main()
