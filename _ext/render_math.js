// TeX to SVG at build time, for _ext/light_pages.py: the pages then carry their math as SVG
// (with hidden MathML for screen readers) and load no MathJax at all.
//
// Usage: node render_math.js MATHJAX_ES5_DIR
// Reads one JSON request per line on stdin: {"items": [[tex, display], ...]}.
// Writes one JSON reply per line: {"html": [...], "errors": [...], "cache": "<defs>..."}:
// each item's <mjx-container>, the TeX errors (index, message), and the glyph definitions
// the page's formulas share (the font cache of that page; cleared between pages).
// The first line written is {"css": "..."}: the stylesheet MathJax's SVG output needs.
'use strict';
const dir = process.argv[2];
const readline = require('readline');

require(dir + '/node-main.js').init({
  loader: {paths: {mathjax: dir}, load: ['input/tex', '[tex]/textmacros', 'output/svg', 'a11y/assistive-mml']},
  tex: {packages: {'[+]': ['ams', 'textmacros']}},
  svg: {fontCache: 'global'},
  startup: {typeset: false},
}).then((MathJax) => {
  const adaptor = MathJax.startup.adaptor;
  const output = MathJax.startup.output;
  const write = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
  write({css: adaptor.textContent(MathJax.svgStylesheet())});
  const rl = readline.createInterface({input: process.stdin, terminal: false});
  rl.on('line', (line) => {
    const request = JSON.parse(line);
    output.fontCache.clearCache();
    const html = [];
    const errors = [];
    request.items.forEach(([tex, display], i) => {
      const node = MathJax.tex2svg(tex, {display: display});
      const text = adaptor.outerHTML(node);
      if (text.includes('data-mjx-error')) {
        const m = text.match(/data-mjx-error="([^"]*)"/);
        errors.push([i, m ? m[1] : 'TeX error']);
      }
      html.push(text);
    });
    write({html: html, errors: errors, cache: adaptor.outerHTML(output.fontCache.getCache())});
  });
}).catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
