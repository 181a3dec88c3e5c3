// The web form's proof of work (ALTCHA, vendored: altcha.min.js, altcha-sha.js), only on a form
// given out when the address is near its limit. The widget solves it by itself when the page
// loads; without JavaScript the form still works below that point. Its texts come from the page
// (our catalogues), in the page's language.
import "./altcha.min.js";

const sha = () => new Worker("/static/altcha-sha.js");
for (const name of ["SHA-256", "SHA-384", "SHA-512"]) {
  globalThis.$altcha.algorithms.set(name, sha);
}
const box = document.getElementById("altcha-strings");
if (box) {
  globalThis.$altcha.i18n.set(box.dataset.language, JSON.parse(box.dataset.strings));
}
