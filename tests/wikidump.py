"""A Wikipedia dump fragment in MediaWiki's real export schema, written by the tests (never downloaded)."""

import bz2
import re
from xml.sax.saxutils import escape

# The head of a real jawiki export (schema 0.11), trimmed to the namespaces the pages below use.
SITEINFO = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.mediawiki.org/xml/export-0.11/ http://www.mediawiki.org/xml/export-0.11.xsd" version="0.11" xml:lang="ja">
  <siteinfo>
    <sitename>Wikipedia</sitename>
    <dbname>jawiki</dbname>
    <base>https://ja.wikipedia.org/wiki/%E3%83%A1%E3%82%A4%E3%83%B3%E3%83%9A%E3%83%BC%E3%82%B8</base>
    <generator>MediaWiki 1.43.0-wmf.1</generator>
    <case>first-letter</case>
    <namespaces>
      <namespace key="0" case="first-letter" />
      <namespace key="4" case="first-letter">Wikipedia</namespace>
      <namespace key="10" case="first-letter">Template</namespace>
      <namespace key="14" case="first-letter">Category</namespace>
    </namespaces>
  </siteinfo>
"""

ARTICLE = """'''玉鋼'''（たまはがね、{{lang-en|Tamahagane}}）は、[[たたら製鉄]]によって作られる[[鋼]]である<ref name="nihon">{{Cite book|title=日本の鉄|year=2001}}</ref>。
{{Infobox 材料
|名称=玉鋼
|密度=7.8
}}
== 製法 ==
[[ファイル:Tatara.jpg|thumb|たたら製鉄の炉]]
砂鉄と木炭を炉に入れ、三日三晩にわたって[[送風|風を送り]]続ける。{{仮リンク|ジョン・スミス|en|John Smith}}もこの方法を記録した。
{| class="wikitable"
! 工程 !! 日数
|-
| 製錬 || 3
|}
=== 用途 ===
* [[日本刀]]の材料として使われる。
* {{読み仮名|鍛冶|かじ}}が折り返し鍛錬を行う。<!-- 要確認 -->
&lt;math&gt; は使わない&amp;nbsp;。
== 脚注 ==
{{Reflist}}
== 関連項目 ==
* [[日本刀]]
[[Category:鉄鋼]]
[[カテゴリ:日本の伝統技術]]
{{DEFAULTSORT:たまはかね}}
"""

EXPECTED_ARTICLE = """玉鋼（たまはがね、Tamahagane）は、たたら製鉄によって作られる鋼である。

製法

砂鉄と木炭を炉に入れ、三日三晩にわたって風を送り続ける。ジョン・スミスもこの方法を記録した。

用途

日本刀の材料として使われる。
鍛冶（かじ）が折り返し鍛錬を行う。
<math> は使わない&nbsp;。"""


def page(page_id, title, wikitext, ns=0, redirect=None, rev_id=None):
    redirect_line = f'    <redirect title="{escape(redirect)}" />\n' if redirect else ""
    return f"""  <page>
    <title>{escape(title)}</title>
    <ns>{ns}</ns>
    <id>{page_id}</id>
{redirect_line}    <revision>
      <id>{rev_id or page_id * 10}</id>
      <parentid>{page_id * 10 - 1}</parentid>
      <timestamp>2024-05-01T00:00:00Z</timestamp>
      <contributor><username>Example</username><id>1</id></contributor>
      <model>wikitext</model>
      <format>text/x-wiki</format>
      <text bytes="{len(wikitext.encode())}" sha1="x" xml:space="preserve">{escape(wikitext)}</text>
      <sha1>x</sha1>
    </revision>
  </page>
"""


PAGES = [
    page(11, "玉鋼", ARTICLE),
    page(12, "タマハガネ", "#転送 [[玉鋼]]", redirect="玉鋼"),
    page(13, "Wikipedia:井戸端", "議論の場です。", ns=4),
    page(14, "Template:Infobox 材料", "{{{名称}}}", ns=10),
    page(15, "空の記事", "{{DEFAULTSORT:から}}\n[[Category:空]]"),
    page(16, "たたら製鉄", "'''たたら製鉄'''は、日本の古い製鉄法である。[[島根県]]で今も行われている。"),
]


def write_multistream(path, pages, per_stream=2, cut_at=None, index=False):
    """Like the real `-multistream.xml.bz2`: the head, then bz2 streams of a few pages each, then the
    tail; with `index`, also the `-multistream-index.txt.bz2` beside it (offset:page_id:title lines)."""
    groups = [pages[i:i + per_stream] for i in range(0, len(pages), per_stream)]
    streams = [bz2.compress(SITEINFO.encode())] + [bz2.compress("".join(g).encode()) for g in groups]
    lines, offset = [], len(streams[0])
    for group, stream in zip(groups, streams[1:]):
        for p in group:
            page_id = re.search(r"<id>(\d+)</id>", p).group(1)
            title = re.search(r"<title>(.*?)</title>", p).group(1)
            lines.append(f"{offset}:{page_id}:{title}\n")
        offset += len(stream)
    data = b"".join(streams) + bz2.compress(b"</mediawiki>\n")
    path.write_bytes(data[:cut_at] if cut_at else data)
    if index:
        path.with_name(path.name.removesuffix(".xml.bz2") + "-index.txt.bz2").write_bytes(
            bz2.compress("".join(lines).encode()))
    return path
