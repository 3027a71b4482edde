// Branding page: the pay-button preview follows the colour typed, with its contrast
// against white text (WCAG 2.2 relative luminance); the server checks it again on Save.
(function () {
  "use strict";
  var input = document.getElementById("colour");
  var button = document.getElementById("preview-button");
  var note = document.getElementById("colour-contrast");
  if (!input || !button || !note) { return; }
  function luminance(hex) {
    var sum = [0.2126, 0.7152, 0.0722], total = 0;
    for (var i = 0; i < 3; i++) {
      var c = parseInt(hex.substr(1 + 2 * i, 2), 16) / 255;
      c = c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
      total += sum[i] * c;
    }
    return total;
  }
  function update() {
    var value = input.value.trim();
    if (!/^#[0-9a-fA-F]{6}$/.test(value)) {
      button.style.background = "";
      note.textContent = value ? "Write the colour as # and six hex digits, e.g. #0b6bcb." : "";
      return;
    }
    var ratio = 1.05 / (luminance(value) + 0.05);
    button.style.background = value;
    note.textContent = "White text on it: " + ratio.toFixed(2) + ":1 — " +
      (ratio >= 4.5 ? "readable." : "too light; choose a darker shade (at least 4.5:1).");
  }
  input.addEventListener("input", update);
  update();
}());
