// A liquid dose measured in mL: show the mg it is at the plan's concentration before saving (rounded to
// 2 decimals, the rounding shown). A progressive enhancement: without it the confirmation step and the saved
// entry show the same conversion, made by the server.
(function () {
  "use strict";
  var volume = document.querySelector("input.liquid-volume[data-concentration]");
  if (!volume) { return; }
  var concentration = volume.dataset.concentration;
  var out = document.createElement("output");
  out.id = "dose-ml-mg";
  out.className = "form-text d-block";
  out.setAttribute("for", volume.id);
  out.setAttribute("aria-live", "polite");
  volume.parentNode.appendChild(out);

  // Exact decimal arithmetic on strings of digits: 0.1 * 3 must read 0.3, never 0.30000000000000004.
  function parse(text) {
    var match = /^\s*(\d*)(?:\.(\d*))?\s*(?:ml)?\s*$/i.exec(text);
    if (!match || (match[1] === "" && !match[2])) { return null; }
    var decimals = match[2] || "";
    return { digits: BigInt((match[1] || "0") + decimals), places: decimals.length };
  }
  function show(value) {
    var text = value.digits.toString().padStart(value.places + 1, "0");
    var whole = text.slice(0, text.length - value.places);
    var part = text.slice(text.length - value.places).replace(/0+$/, "");
    return part ? whole + "." + part : whole;
  }
  function round2(value) {
    if (value.places <= 2) { return value; }
    var scale = 10n ** BigInt(value.places - 2);
    return { digits: (value.digits + scale / 2n) / scale, places: 2 };
  }
  function update() {
    var ml = parse(volume.value);
    var mgPerMl = parse(concentration);
    if (!volume.value.trim()) { out.textContent = ""; return; }
    if (!ml || !mgPerMl || ml.digits === 0n) { out.textContent = "Enter the volume as a number of mL, for example 3."; return; }
    if (Number(show(ml)) > 20) { out.textContent = "A liquid dose cannot be more than 20 mL."; return; }
    var exact = { digits: ml.digits * mgPerMl.digits, places: ml.places + mgPerMl.places };
    var rounded = round2(exact);
    var text = show(ml) + " mL of " + concentration + " mg/mL = " + show(exact) + " mg";
    if (show(rounded) !== show(exact)) {
      text = ml.places > 2 ? text + ": too many decimals, check the volume" : text + ", rounded to " + show(rounded) + " mg";
    }
    out.textContent = text;
  }
  volume.addEventListener("input", update);
  update();
})();
