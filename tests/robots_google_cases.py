"""The checks of Google's reference robots.txt matcher test (google/robotstxt ``robots_test.cc``,
Apache-2.0), restated as data for our parser: ``(test name, robots.txt, agent, url, allowed)``.

Only the expectations are taken over, written anew in Python; the C++ helpers they exercised
(``IsUserAgentAllowed``, ``GetPathParamsQuery``, ``MaybeEscapePattern``, the parse-stats reporter)
map onto ``Robots.can_fetch`` and ``request_target``. Checks of Google-only behaviour that RFC 9309
leaves open are in ``GOOGLE_ONLY`` and may differ (see ``KNOWN_QUIRKS`` in test_crawl_robots.py).
"""

from __future__ import annotations

FOO = "user-agent: FooBot\ndisallow: /\n"

_long_len = 2083 * 8  # Google cuts a robots.txt line after this many bytes


def _long_line_cases() -> list[tuple]:
    disallow, allow = "disallow: ", "allow: "
    line = "/x/"
    while len(line) < _long_len - len("/x/") - len(disallow) + 1:
        line += "a"
    text = "user-agent: FooBot\n" + disallow + line + "/qux\n"
    cases = [
        ("LineTooLong", text, "FooBot", "http://foo.bar/fux", True),
        ("LineTooLong", text, "FooBot", "http://foo.bar" + line + "/fux", False),
    ]
    a = b = "/x/"
    while len(a) < _long_len - len("/x/") - len(allow) + 1:
        a += "a"
        b += "b"
    text = "user-agent: FooBot\ndisallow: /\n" + allow + a + "/qux\n" + allow + b + "/qux\n"
    cases += [
        ("LineTooLong", text, "FooBot", "http://foo.bar/", False),
        ("LineTooLong", text, "FooBot", "http://foo.bar" + a + "/qux", True),
        ("LineTooLong", text, "FooBot", "http://foo.bar" + b + "/fux", True),
    ]
    return cases


def _group(name: str, text: str, checks: list[tuple[str, str, bool]]) -> list[tuple]:
    return [(name, text, agent, url, allowed) for agent, url, allowed in checks]


_GROUPS_TXT = (
    "allow: /foo/bar/\n\nuser-agent: FooBot\ndisallow: /\nallow: /x/\nuser-agent: BarBot\n"
    "disallow: /\nallow: /y/\n\n\nallow: /w/\nuser-agent: BazBot\n\nuser-agent: FooBot\n"
    "allow: /z/\ndisallow: /\n"
)
_CASE_UPPER = "USER-AGENT: FooBot\nALLOW: /x/\nDISALLOW: /\n"
_CASE_LOWER = "user-agent: FooBot\nallow: /x/\ndisallow: /\n"
_CASE_CAMEL = "uSeR-aGeNt: FooBot\nAlLoW: /x/\ndIsAlLoW: /\n"
_UA_UPPER = "User-Agent: FOO BAR\nAllow: /x/\nDisallow: /\n"
_UA_LOWER = "User-Agent: foo bar\nAllow: /x/\nDisallow: /\n"
_UA_CAMEL = "User-Agent: FoO bAr\nAllow: /x/\nDisallow: /\n"
_GLOBAL = "user-agent: *\nallow: /\nuser-agent: FooBot\ndisallow: /\n"
_ONLY_SPECIFIC = (
    "user-agent: FooBot\nallow: /\nuser-agent: BarBot\ndisallow: /\nuser-agent: BazBot\ndisallow: /\n"
)
_PAGE = "http://foo.bar/x/page.html"
_ALLOW_FISH = "user-agent: FooBot\ndisallow: /\nallow: /fish{}\n"

CASES: list[tuple] = [
    # GoogleOnly_SystemTest
    ("SystemTest", "", "FooBot", "", True),
    ("SystemTest", FOO, "", "", True),
    ("SystemTest", FOO, "FooBot", "", False),
    ("SystemTest", "", "", "", True),
    # ID_LineSyntax_Line
    ("LineSyntax_Line", FOO, "FooBot", "http://foo.bar/x/y", False),
    ("LineSyntax_Line", "foo: FooBot\nbar: /\n", "FooBot", "http://foo.bar/x/y", True),
    ("LineSyntax_Line", "user-agent FooBot\ndisallow /\n", "FooBot", "http://foo.bar/x/y", False),
    # ID_LineSyntax_Groups
    *_group(
        "LineSyntax_Groups",
        _GROUPS_TXT,
        [
            ("FooBot", "http://foo.bar/x/b", True),
            ("FooBot", "http://foo.bar/z/d", True),
            ("FooBot", "http://foo.bar/y/c", False),
            ("BarBot", "http://foo.bar/y/c", True),
            ("BarBot", "http://foo.bar/w/a", True),
            ("BarBot", "http://foo.bar/z/d", False),
            ("BazBot", "http://foo.bar/z/d", True),
            ("FooBot", "http://foo.bar/foo/bar/", False),
            ("BarBot", "http://foo.bar/foo/bar/", False),
            ("BazBot", "http://foo.bar/foo/bar/", False),
        ],
    ),
    # ID_REPLineNamesCaseInsensitive
    *[
        ("LineNamesCaseInsensitive", text, "FooBot", url, allowed)
        for url, allowed in (("http://foo.bar/x/y", True), ("http://foo.bar/a/b", False))
        for text in (_CASE_UPPER, _CASE_LOWER, _CASE_CAMEL)
    ],
    # ID_UserAgentValueCaseInsensitive
    *[
        ("UserAgentValueCaseInsensitive", text, agent, url, allowed)
        for agent in ("Foo", "foo")
        for url, allowed in (("http://foo.bar/x/y", True), ("http://foo.bar/a/b", False))
        for text in (_UA_UPPER, _UA_LOWER, _UA_CAMEL)
    ],
    # GoogleOnly_AcceptUserAgentUpToFirstSpace
    *_group(
        "AcceptUserAgentUpToFirstSpace",
        "User-Agent: *\nDisallow: /\nUser-Agent: Foo Bar\nAllow: /x/\nDisallow: /\n",
        [("Foo", "http://foo.bar/x/y", True), ("Foo Bar", "http://foo.bar/x/y", False)],
    ),
    # ID_GlobalGroups_Secondary
    ("GlobalGroups_Secondary", "", "FooBot", "http://foo.bar/x/y", True),
    ("GlobalGroups_Secondary", _GLOBAL, "FooBot", "http://foo.bar/x/y", False),
    ("GlobalGroups_Secondary", _GLOBAL, "BarBot", "http://foo.bar/x/y", True),
    ("GlobalGroups_Secondary", _ONLY_SPECIFIC, "QuxBot", "http://foo.bar/x/y", True),
    # ID_AllowDisallow_Value_CaseSensitive
    ("Value_CaseSensitive", "user-agent: FooBot\ndisallow: /x/\n", "FooBot", "http://foo.bar/x/y", False),
    ("Value_CaseSensitive", "user-agent: FooBot\ndisallow: /X/\n", "FooBot", "http://foo.bar/x/y", True),
    # ID_LongestMatch
    ("LongestMatch", "user-agent: FooBot\ndisallow: /x/page.html\nallow: /x/\n", "FooBot", _PAGE, False),
    ("LongestMatch", "user-agent: FooBot\nallow: /x/page.html\ndisallow: /x/\n", "FooBot", _PAGE, True),
    (
        "LongestMatch",
        "user-agent: FooBot\nallow: /x/page.html\ndisallow: /x/\n",
        "FooBot",
        "http://foo.bar/x/",
        False,
    ),
    ("LongestMatch", "user-agent: FooBot\ndisallow: \nallow: \n", "FooBot", _PAGE, True),
    ("LongestMatch", "user-agent: FooBot\ndisallow: /\nallow: /\n", "FooBot", _PAGE, True),
    ("LongestMatch", "user-agent: FooBot\ndisallow: /x\nallow: /x/\n", "FooBot", "http://foo.bar/x", False),
    ("LongestMatch", "user-agent: FooBot\ndisallow: /x\nallow: /x/\n", "FooBot", "http://foo.bar/x/", True),
    (
        "LongestMatch",
        "user-agent: FooBot\ndisallow: /x/page.html\nallow: /x/page.html\n",
        "FooBot",
        _PAGE,
        True,
    ),
    (
        "LongestMatch",
        "user-agent: FooBot\nallow: /page\ndisallow: /*.html\n",
        "FooBot",
        "http://foo.bar/page.html",
        False,
    ),
    (
        "LongestMatch",
        "user-agent: FooBot\nallow: /page\ndisallow: /*.html\n",
        "FooBot",
        "http://foo.bar/page",
        True,
    ),
    ("LongestMatch", "user-agent: FooBot\nallow: /x/page.\ndisallow: /*.html\n", "FooBot", _PAGE, True),
    (
        "LongestMatch",
        "user-agent: FooBot\nallow: /x/page.\ndisallow: /*.html\n",
        "FooBot",
        "http://foo.bar/x/y.html",
        False,
    ),
    (
        "LongestMatch",
        "User-agent: *\nDisallow: /x/\nUser-agent: FooBot\nDisallow: /y/\n",
        "FooBot",
        "http://foo.bar/x/page",
        True,
    ),
    (
        "LongestMatch",
        "User-agent: *\nDisallow: /x/\nUser-agent: FooBot\nDisallow: /y/\n",
        "FooBot",
        "http://foo.bar/y/page",
        False,
    ),
    # ID_Encoding
    (
        "Encoding",
        "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar?qux=taz&baz=http://foo.bar?tar&par\n",
        "FooBot",
        "http://foo.bar/foo/bar?qux=taz&baz=http://foo.bar?tar&par",
        True,
    ),
    (
        "Encoding",
        "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/ツ\n",
        "FooBot",
        "http://foo.bar/foo/bar/%E3%83%84",
        True,
    ),
    (
        "Encoding",
        "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/ツ\n",
        "FooBot",
        "http://foo.bar/foo/bar/ツ",
        False,
    ),
    (
        "Encoding",
        "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/%E3%83%84\n",
        "FooBot",
        "http://foo.bar/foo/bar/%E3%83%84",
        True,
    ),
    (
        "Encoding",
        "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/%E3%83%84\n",
        "FooBot",
        "http://foo.bar/foo/bar/ツ",
        False,
    ),
    (
        "Encoding",
        "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/%62%61%7A\n",
        "FooBot",
        "http://foo.bar/foo/bar/baz",
        False,
    ),
    (
        "Encoding",
        "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/%62%61%7A\n",
        "FooBot",
        "http://foo.bar/foo/bar/%62%61%7A",
        True,
    ),
    # ID_SpecialCharacters
    *_group(
        "SpecialCharacters",
        "User-agent: FooBot\nDisallow: /foo/bar/quz\nAllow: /foo/*/qux\n",
        [
            ("FooBot", "http://foo.bar/foo/bar/quz", False),
            ("FooBot", "http://foo.bar/foo/quz", True),
            ("FooBot", "http://foo.bar/foo//quz", True),
            ("FooBot", "http://foo.bar/foo/bax/quz", True),
        ],
    ),
    *_group(
        "SpecialCharacters",
        "User-agent: FooBot\nDisallow: /foo/bar$\nAllow: /foo/bar/qux\n",
        [
            ("FooBot", "http://foo.bar/foo/bar", False),
            ("FooBot", "http://foo.bar/foo/bar/qux", True),
            ("FooBot", "http://foo.bar/foo/bar/", True),
            ("FooBot", "http://foo.bar/foo/bar/baz", True),
        ],
    ),
    *_group(
        "SpecialCharacters",
        "User-agent: FooBot\n# Disallow: /\nDisallow: /foo/quz#qux\nAllow: /\n",
        [("FooBot", "http://foo.bar/foo/bar", True), ("FooBot", "http://foo.bar/foo/quz", False)],
    ),
    # GoogleOnly_IndexHTMLisDirectory
    *_group(
        "IndexHTMLisDirectory",
        "User-Agent: *\nAllow: /allowed-slash/index.html\nDisallow: /\n",
        [
            ("foobot", "http://foo.com/allowed-slash/", True),
            ("foobot", "http://foo.com/allowed-slash/index.htm", False),
            ("foobot", "http://foo.com/allowed-slash/index.html", True),
            ("foobot", "http://foo.com/anyother-url", False),
        ],
    ),
    # GoogleOnly_LineTooLong
    *_long_line_cases(),
    # GoogleOnly_DocumentationChecks
    *[
        ("DocumentationChecks", _ALLOW_FISH.format(suffix), "FooBot", "http://foo.bar" + path, allowed)
        for suffix in ("", "*")
        for path, allowed in (
            ("/bar", False),
            ("/fish", True),
            ("/fish.html", True),
            ("/fish/salmon.html", True),
            ("/fishheads", True),
            ("/fishheads/yummy.html", True),
            ("/fish.html?id=anything", True),
            ("/Fish.asp" if suffix == "" else "/Fish.bar", False),
            ("/catfish", False),
            ("/?id=fish", False),
        )
    ],
    *_group(
        "DocumentationChecks",
        _ALLOW_FISH.format("/"),
        [
            ("FooBot", "http://foo.bar/bar", False),
            ("FooBot", "http://foo.bar/fish/", True),
            ("FooBot", "http://foo.bar/fish/salmon", True),
            ("FooBot", "http://foo.bar/fish/?salmon", True),
            ("FooBot", "http://foo.bar/fish/salmon.html", True),
            ("FooBot", "http://foo.bar/fish/?id=anything", True),
            ("FooBot", "http://foo.bar/fish", False),
            ("FooBot", "http://foo.bar/fish.html", False),
            ("FooBot", "http://foo.bar/Fish/Salmon.html", False),
        ],
    ),
    *_group(
        "DocumentationChecks",
        "user-agent: FooBot\ndisallow: /\nallow: /*.php\n",
        [
            ("FooBot", "http://foo.bar/bar", False),
            ("FooBot", "http://foo.bar/filename.php", True),
            ("FooBot", "http://foo.bar/folder/filename.php", True),
            ("FooBot", "http://foo.bar/folder/filename.php?parameters", True),
            ("FooBot", "http://foo.bar//folder/any.php.file.html", True),
            ("FooBot", "http://foo.bar/filename.php/", True),
            ("FooBot", "http://foo.bar/index?f=filename.php/", True),
            ("FooBot", "http://foo.bar/php/", False),
            ("FooBot", "http://foo.bar/index?php", False),
            ("FooBot", "http://foo.bar/windows.PHP", False),
        ],
    ),
    *_group(
        "DocumentationChecks",
        "user-agent: FooBot\ndisallow: /\nallow: /*.php$\n",
        [
            ("FooBot", "http://foo.bar/bar", False),
            ("FooBot", "http://foo.bar/filename.php", True),
            ("FooBot", "http://foo.bar/folder/filename.php", True),
            ("FooBot", "http://foo.bar/filename.php?parameters", False),
            ("FooBot", "http://foo.bar/filename.php/", False),
            ("FooBot", "http://foo.bar/filename.php5", False),
            ("FooBot", "http://foo.bar/php/", False),
            ("FooBot", "http://foo.bar/filename?php", False),
            ("FooBot", "http://foo.bar/aaaphpaaa", False),
            ("FooBot", "http://foo.bar//windows.PHP", False),
        ],
    ),
    *_group(
        "DocumentationChecks",
        "user-agent: FooBot\ndisallow: /\nallow: /fish*.php\n",
        [
            ("FooBot", "http://foo.bar/bar", False),
            ("FooBot", "http://foo.bar/fish.php", True),
            ("FooBot", "http://foo.bar/fishheads/catfish.php?parameters", True),
            ("FooBot", "http://foo.bar/Fish.PHP", False),
        ],
    ),
    (
        "DocumentationChecks",
        "user-agent: FooBot\nallow: /p\ndisallow: /\n",
        "FooBot",
        "http://example.com/page",
        True,
    ),
    (
        "DocumentationChecks",
        "user-agent: FooBot\nallow: /folder\ndisallow: /folder\n",
        "FooBot",
        "http://example.com/folder/page",
        True,
    ),
    (
        "DocumentationChecks",
        "user-agent: FooBot\nallow: /page\ndisallow: /*.htm\n",
        "FooBot",
        "http://example.com/page.htm",
        False,
    ),
    (
        "DocumentationChecks",
        "user-agent: FooBot\nallow: /$\ndisallow: /\n",
        "FooBot",
        "http://example.com/",
        True,
    ),
    (
        "DocumentationChecks",
        "user-agent: FooBot\nallow: /$\ndisallow: /\n",
        "FooBot",
        "http://example.com/page.html",
        False,
    ),
    # ID_LinesNumbersAreCountedCorrectly: every line ending ends a line (the rules of "bar" apply)
    *[
        ("LineEndings", text, agent, url, allowed)
        for text in (
            "User-Agent: foo\nAllow: /some/path\nUser-Agent: bar\n\n\nDisallow: /\n",
            "User-Agent: foo\r\nAllow: /some/path\r\nUser-Agent: bar\r\n\r\n\r\nDisallow: /\r\n",
            "User-Agent: foo\rAllow: /some/path\rUser-Agent: bar\r\r\rDisallow: /\r",
            "User-Agent: foo\nAllow: /some/path\nUser-Agent: bar\n\n\nDisallow: /",
            "User-Agent: foo\nAllow: /some/path\r\nUser-Agent: bar\n\r\n\nDisallow: /",
        )
        for agent, url, allowed in (
            ("bar", "http://foo.bar/x", False),
            ("foo", "http://foo.bar/some/path", True),
        )
    ],
    # ID_UTF8ByteOrderMarkIsSkipped: robots.txt as bytes; a whole or partial BOM at the start is skipped
    *[
        (
            "ByteOrderMark",
            prefix + b"User-Agent: foo\nDisallow: /AnyValue\n",
            "foo",
            "http://foo.bar/AnyValue",
            False,
        )
        for prefix in (b"\xef\xbb\xbf", b"\xef\xbb", b"\xef")
    ],
    # a broken BOM spoils the first line (so no group), a BOM in the middle spoils its own line
    (
        "ByteOrderMark",
        b"\xef\x11\xbfUser-Agent: foo\nDisallow: /AnyValue\n",
        "foo",
        "http://foo.bar/AnyValue",
        True,
    ),
    (
        "ByteOrderMark",
        b"User-Agent: foo\n\xef\xbb\xbfDisallow: /AnyValue\n",
        "foo",
        "http://foo.bar/AnyValue",
        True,
    ),
]

# GetPathParamsQuery: the part of a URL the rules are matched against.
PATH_CASES: list[tuple[str, str]] = [
    ("", "/"),
    ("http://www.example.com", "/"),
    ("http://www.example.com/", "/"),
    ("http://www.example.com/a", "/a"),
    ("http://www.example.com/a/", "/a/"),
    ("http://www.example.com/a/b?c=http://d.e/", "/a/b?c=http://d.e/"),
    ("http://www.example.com/a/b?c=d&e=f#fragment", "/a/b?c=d&e=f"),
    ("example.com", "/"),
    ("example.com/", "/"),
    ("example.com/a", "/a"),
    ("example.com/a/", "/a/"),
    ("example.com/a/b?c=d&e=f#fragment", "/a/b?c=d&e=f"),
    ("a", "/"),
    ("a/", "/"),
    ("/a", "/a"),
    ("a/b", "/b"),
    ("example.com?a", "/?a"),
    ("example.com/a;b#c", "/a;b"),
    ("//a/b/c", "/b/c"),
]

# Checks of Google-specific behaviour (the test names say "GoogleOnly"), where RFC 9309 is silent.
GOOGLE_ONLY = {
    "SystemTest",
    "AcceptUserAgentUpToFirstSpace",
    "IndexHTMLisDirectory",
    "LineTooLong",
    "DocumentationChecks",
}
