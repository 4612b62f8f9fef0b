"""Write each inline script once per page.

Sphinx 7.4 re-adds the inline scripts that extensions register (`app.add_js_file(None,
body=...)`) under the file name '' as well as None, and does not see that the two are the same
script; sphinx-thebe's and sphinx-togglebutton's configuration scripts come out twice on every
page. Twice `var ...` is harmless, but twice `const THEBE_JS_URL = ...` is a SyntaxError in the
browser console of every page. This drops the repeats, keeping the first of each.
"""


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (script.filename or "", tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    # after every other handler, which may still add scripts for this page (e.g. MathJax)
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
