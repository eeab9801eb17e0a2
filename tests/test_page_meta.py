"""collect_page_meta: evidence read from small pages written here, tree left untouched."""
from __future__ import annotations

import json

import lxml.html

from transforms.page_meta import collect_page_meta

PAGE = """<!DOCTYPE html>
<html lang="fr-FR"><head><meta charset="utf-8">
<title>Le titre de l'article | Le Quotidien</title>
<link rel="canonical" href="/2025/03/18/article.html">
<meta property="og:title" content="Le titre de l'article">
<meta property="og:site_name" content="Le Quotidien">
<meta property="og:image" content="/img/une.jpg">
<meta property="og:description" content="Un résumé.">
<meta property="article:published_time" content="2025-03-18T21:30:00+01:00">
<meta property="article:modified_time" content="2025-03-19T08:00:00+01:00">
<meta property="article:section" content="Monde">
<meta property="article:tag" content="Ukraine">
<meta property="article:tag" content="Russie">
<meta name="author" content="Anne Martin">
<meta name="viewport" content="width=device-width">
<script type="application/ld+json">
{"@context": "https://schema.org", "@graph": [
  {"@type": "WebSite", "name": "Le Quotidien", "url": "https://quotidien.example"},
  {"@type": "NewsArticle", "headline": "Le titre de l'article",
   "datePublished": "2025-03-18T21:30:00+01:00",
   "author": [{"@type": "Person", "name": "Anne Martin"}],
   "publisher": {"@type": "Organization", "name": "Le Quotidien"},
   "articleBody": "Tout le texte, qui n'a rien à faire dans les preuves."}]}
</script>
<script type="application/ld+json">{"@type": "NewsArticle", "headline": "broken", </script>
</head><body>
<h1>Le titre de l'article</h1>
<p class="byline">Par <a rel="author" href="/auteurs/am">Anne Martin</a></p>
<time datetime="2025-03-18T21:30:00+01:00" itemprop="datePublished">18 mars</time>
<p>Le texte.</p>
</body></html>"""


def _tree(html: str = PAGE):
    return lxml.html.document_fromstring(html)


def test_collects_open_graph_title_tag_h1_and_lang():
    meta = collect_page_meta(_tree(), "https://quotidien.example/monde/article.html")
    assert meta["og_title"] == "Le titre de l'article"
    assert meta["og_site_name"] == "Le Quotidien"
    assert meta["title_tag"] == "Le titre de l'article | Le Quotidien"
    assert meta["h1"] == ["Le titre de l'article"]
    assert meta["html_lang"] == "fr-FR"
    assert meta["og_description"] == "Un résumé."


def test_links_are_made_absolute_against_the_url():
    meta = collect_page_meta(_tree(), "https://quotidien.example/monde/article.html")
    assert meta["canonical"] == "https://quotidien.example/2025/03/18/article.html"
    assert meta["og_image"] == "https://quotidien.example/img/une.jpg"


def test_jsonld_is_flattened_from_graph_and_trimmed():
    meta = collect_page_meta(_tree(), None)
    assert [item["@type"] for item in meta["jsonld"]] == ["NewsArticle"]
    article = meta["jsonld"][0]
    assert article["headline"] == "Le titre de l'article"
    assert article["author"] == [{"@type": "Person", "name": "Anne Martin"}]
    assert "articleBody" not in article
    assert {"@type": "WebSite", "name": "Le Quotidien", "url": "https://quotidien.example"} \
        in meta["jsonld_other"]


def test_meta_tags_and_repeated_tags():
    meta = collect_page_meta(_tree(), None)
    assert meta["meta"]["article:published_time"] == "2025-03-18T21:30:00+01:00"
    assert meta["meta"]["article:section"] == "Monde"
    assert meta["meta"]["author"] == "Anne Martin"
    assert "viewport" not in meta["meta"]
    assert meta["meta_lists"]["article:tag"] == ["Ukraine", "Russie"]


def test_bylines_and_time_elements():
    meta = collect_page_meta(_tree(), None)
    assert "Anne Martin" in meta["byline"]
    assert {"datetime": "2025-03-18T21:30:00+01:00", "itemprop": "datePublished"} in meta["times"]


def test_htmldate_runs_on_the_tree():
    meta = collect_page_meta(_tree(), None)
    assert meta["htmldate_published"].startswith("2025-03-18")


def test_tree_is_not_modified_and_result_is_json():
    tree = _tree()
    before = lxml.html.tostring(tree)
    meta = collect_page_meta(tree, "https://quotidien.example/a")
    assert lxml.html.tostring(tree) == before
    assert json.loads(json.dumps(meta)) == meta


def test_bare_page_gives_empty_evidence():
    meta = collect_page_meta(_tree("<html><body><p>Rien.</p></body></html>"), None)
    assert meta["jsonld"] == [] and meta["h1"] == [] and meta["byline"] == []
    assert meta["og_title"] is None and meta["html_lang"] is None and meta["title_tag"] is None


# ------------------------------------------------------------------ bylines

def _bylines(body: str) -> list[str]:
    return collect_page_meta(_tree(f"<html><body>{body}</body></html>"), None)["byline"]


def test_byline_classes_match_whatever_their_case():
    assert _bylines('<div class="ArticleByline">Anna Fink</div>'
                    '<span id="AUTHOR-NAME">Jan Roth</span>'
                    '<p data-testid="Writer">Eva Lind</p>') == ["Anna Fink", "Jan Roth", "Eva Lind"]


def test_byline_class_folds_like_the_regex_dotted_and_dotless_i():
    # re.I folds the dotless ı onto i: 'BYLıNE' says byline as much as 'byline'.
    assert _bylines('<div class="BYLıNE">Anna Fink</div>') == ["Anna Fink"]


def test_only_the_innermost_byline_element_counts():
    assert _bylines('<div class="author-box"><p>Texte</p>'
                    '<span class="author-name">Anna Fink</span></div>') == ["Anna Fink"]


def test_byline_container_known_by_data_testid_only_is_kept():
    # Only class and id make an element a container, as before.
    assert _bylines('<div class="byline"><span data-testid="author">Anna Fink</span></div>') \
        == ["Anna Fink"]


def test_avatar_bio_and_share_elements_are_no_bylines():
    assert _bylines('<div class="author-avatar">Photo</div><div class="author-bio">Anna writes.</div>'
                    '<a class="share-author" href="#">Share</a>') == []


def test_rel_and_itemprop_author_come_first_with_their_name_parts():
    got = _bylines('<p class="byline">Par Paul Durand</p>'
                   '<span itemprop="author"><span itemprop="name">Anne Martin</span>, Paris</span>'
                   '<a rel="author" href="/jan">Jan Roth</a>'
                   '<meta itemprop="author" content="Eva Lind">')
    assert got == ["Anne Martin", "Jan Roth", "Eva Lind", "Par Paul Durand"]


def test_a_rel_author_counts_only_on_links():
    assert _bylines('<span rel="author">Anna Fink</span>') == []


def test_byline_words_inside_other_words_and_urls_are_no_marks():
    assert _bylines('<a href="/author/anna" class="link">Anna</a>'
                    '<div class="coauthored">x</div><div class="co-author">y</div>') == ["y"]
    assert _bylines('<div class="mx-auto">Menu</div><div class="authority">Tom Ek</div>') == ["Tom Ek"]


def test_long_and_repeated_bylines_are_dropped_and_at_most_twenty_kept():
    many = "".join(f'<span class="byline">Name {i}</span>' for i in range(30))
    assert _bylines(many) == [f"Name {i}" for i in range(20)]
    assert _bylines(f'<span class="byline">{"x" * 201}</span><span class="byline">A</span>'
                    '<span class="byline">A</span>') == ["A"]


def test_a_control_character_in_a_byline_class_is_no_problem():
    # lxml keeps it in the attribute, but no XPath value may hold it.
    assert _bylines('<div class="byline\x0b">Anna Fink</div>') == ["Anna Fink"]


def test_bem_and_camel_case_author_classes_are_bylines():
    assert _bylines('<span class="article__author">Von Seb Dumitru</span>'
                    '<div class="postAuthor">Anna Fink</div>') == ["Von Seb Dumitru", "Anna Fink"]


# ------------------------------------------------------------------ one walk over the tags

def _page(head: str = "", body: str = "") -> dict:
    return collect_page_meta(_tree(f"<html><head>{head}</head><body>{body}</body></html>"),
                             "https://example.org/a/b.html")


def test_canonical_is_the_first_non_blank_href_of_a_canonical_rel_token():
    meta = _page('<link rel="Canonical" href="/upper">'  # tokens are case-sensitive
                 '<link rel="canonicalx" href="/longer">'
                 '<link rel="canonical">'  # no href
                 '<link rel=" canonical\t" href="  ">'  # blank href
                 '<link rel="preload\ncanonical" href=" /c\n d ">'
                 '<link rel="canonical" href="/later">')
    assert meta["canonical"] == "https://example.org/c d"


def test_ld_json_scripts_are_known_by_their_type_whatever_its_case():
    meta = _page('<script type="application/LD+JSON">{"@type": "NewsArticle", "headline": "A"}</script>'
                 '<script type="application/json">{"@type": "NewsArticle", "headline": "B"}</script>'
                 '<script>{"@type": "NewsArticle", "headline": "C"}</script>')
    assert [item["headline"] for item in meta["jsonld"]] == ["A"]


def test_other_jsonld_items_keep_type_name_and_url_only():
    meta = _page('<script type="application/ld+json">[{"@type": "Organization", "name": "Org",'
                 ' "url": "https://o.example", "logo": "x.png"}, {"@type": "ImageObject", "url": "y"}]'
                 '</script>')
    assert meta["jsonld_other"] == [{"@type": "Organization", "name": "Org", "url": "https://o.example"}]
    assert meta["jsonld"] == []


def test_meta_content_whitespace_is_squashed_unicode_spaces_included():
    meta = _page('<meta name="description" content=" Un\u00a0r\u00e9sum\u00e9\n\t court \u2028">'
                 '<meta name="author" content="   ">')
    assert meta["meta"]["description"] == "Un r\u00e9sum\u00e9 court"
    assert "author" not in meta["meta"]


def test_title_tag_is_the_first_title_element():
    meta = _page("<title> Le  titre </title>", '<svg><title>Icône</title></svg>')
    assert meta["title_tag"] == "Le titre"
    assert _page(body='<svg><title>Icône</title></svg>')["title_tag"] == "Icône"


def test_time_elements_then_itemprop_dates_outside_meta():
    body = ("".join(f'<time datetime="2025-01-{d:02d}">x</time>' for d in range(1, 13))
            + '<meta itemprop="datePublished" content="2024-12-01">'
            + '<span itemprop="datePublished" content=" 2024-12-02 ">x</span>'
            + '<span itemprop="dateModified">no date</span>'
            + "".join(f'<div itemprop="dateModified" datetime="2024-12-{d:02d}">x</div>'
                      for d in range(3, 8)))
    times = _page(body=body)["times"]
    assert [t["datetime"] for t in times[:10]] == [f"2025-01-{d:02d}" for d in range(1, 11)]
    assert times[10:] == [{"datetime": "2024-12-02", "itemprop": "datePublished"}] + [
        {"datetime": f"2024-12-{d:02d}", "itemprop": "dateModified"} for d in range(3, 6)]


def test_a_time_element_with_an_itemprop_counts_in_both_lists():
    times = _page(body='<time datetime="2025-03-18" itemprop="dateModified" pubdate>x</time>')["times"]
    assert times == [{"datetime": "2025-03-18", "itemprop": "dateModified", "pubdate": "pubdate"},
                     {"datetime": "2025-03-18", "itemprop": "dateModified"}]


def test_dotless_i_and_a_control_character_in_byline_classes_together():
    # Both slow paths at once: every value to the regex, no XPath value for the elements.
    assert _bylines('<div class="BYLıNE\x0b">Anna Fink</div><span class="writer">Jan Roth</span>') \
        == ["Anna Fink", "Jan Roth"]


def test_repeated_byline_classes_are_found_everywhere():
    assert _bylines("".join(f'<p class="author">Name {i}</p><p class="x">y</p>' for i in range(12))) \
        == [f"Name {i}" for i in range(12)]


def test_an_itemprop_date_with_an_empty_content_and_no_datetime_does_not_raise():
    # It raised AttributeError before, and extraction lost the whole page.
    times = _page(body='<span itemprop="datePublished" content="">x</span>'
                       '<span itemprop="dateModified" content="" datetime="2025-01-02">x</span>')["times"]
    assert times == [{"datetime": "", "itemprop": "datePublished"},
                     {"datetime": "2025-01-02", "itemprop": "dateModified"}]


def test_attribute_values_given_by_the_caller_give_the_same_evidence():
    from transforms.page_meta import attribute_values
    tree = lxml.html.document_fromstring(PAGE)
    values = attribute_values(tree)
    assert values["class"] == ["byline"] and values["rel"] == ["author"]
    assert values["itemprop"] == ["datePublished"]
    assert collect_page_meta(tree, "https://quotidien.example/a", values) == collect_page_meta(
        tree, "https://quotidien.example/a")
    # the evidence comes from the values given: none given, no byline candidate
    empty = {name: [] for name in values}
    assert collect_page_meta(tree, None, empty)["byline"] == []
