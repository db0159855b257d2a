"""The HTML of `orca setup`: the register page and the two answers to GitHub's redirect.

Inline Jinja templates (Flask autoescapes `render_template_string`), so the page ships
inside the `app` package with no package-data configuration.
"""

from __future__ import annotations

_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }} · Orca</title>
<style>
 body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
 textarea { width: 100%; font: 13px/1.4 ui-monospace, monospace; }
 button { font-size: 1.1rem; padding: .5rem 1.2rem; margin-top: .8rem; cursor: pointer; }
 .note { background: #fff8c5; padding: .6rem .8rem; border-radius: 6px; }
 code { background: #f3f3f3; padding: 0 .2rem; }
</style></head><body>
"""

REGISTER = _HEAD + """<h1>Register Orca as a GitHub App</h1>
<p>The button sends this manifest to GitHub, which asks you to name the App and create it
{%- if org %} for the organisation <strong>{{ org }}</strong>{% else %} on your personal
account{% endif %}. GitHub then sends you back here and Orca writes its credentials to
<code>{{ env_path }}</code>.</p>
{% if placeholder %}
<p class="note" id="placeholder">The webhook URL is a placeholder. Replace
<code>{{ placeholder_host }}</code> below with the public host Orca will answer on (three
places), or change it later in the App's settings.</p>
{% endif %}
<form id="register" method="post" action="{{ action }}">
<label for="manifest">App manifest</label>
<textarea id="manifest" name="manifest" rows="24" spellcheck="false">{{ manifest }}</textarea>
<button type="submit" id="register-button">Register the GitHub App</button>
</form>
</body></html>
"""

DONE = _HEAD + """<h1>{{ name }} is registered</h1>
<p>Orca wrote the App's id, webhook secret and OAuth client to <code>{{ env_path }}</code>
and its private key to <code>{{ key_path }}</code> (both readable by you only).</p>
<p><strong>Next, install the App</strong> on the accounts and repositories it should work on:
<br><a id="install" href="{{ install_url }}">{{ install_url }}</a></p>
<p>Then start Orca with <code>orca up</code> and label an issue.</p>
</body></html>
"""

FAILED = _HEAD + """<h1>{{ title }}</h1>
<p id="error">{{ message }}</p>
<p><a href="{{ start_url }}">Start again</a></p>
</body></html>
"""
