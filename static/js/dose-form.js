// The dose form's progressive enhancements (the form works without them):
// * a missed dose stores no dose: while "Missed" is chosen, the dose field shows the expected dose read-only;
// * when the date changes, the expected dose of that day (from the page's "dose-days" data) replaces the
//   pre-fill, unless a dose was typed, and its label says which day it is for.
(function () {
  "use strict";
  var status = document.getElementById("id_status");
  var dose = document.getElementById("id_dose_mg");
  var date = document.getElementById("id_taken_on");
  var label = document.getElementById("expected-dose");
  var data = document.getElementById("dose-days");
  if (!status || !dose) { return; }
  var typed = dose.value;
  var prefill = dose.value;

  function sync() {
    if (status.value === "missed") {
      typed = dose.readOnly ? typed : dose.value;
      dose.value = dose.dataset.expected || "";
      dose.readOnly = true;
      dose.setAttribute("aria-describedby", "missed-help");
    } else if (dose.readOnly) {
      dose.readOnly = false;
      dose.value = typed;
      dose.removeAttribute("aria-describedby");
    }
  }
  var help = document.createElement("p");
  help.id = "missed-help";
  help.className = "form-text";
  help.textContent = "Missed: no dose is stored; the expected dose is shown for reference.";
  help.hidden = true;
  dose.parentNode.appendChild(help);
  status.addEventListener("change", function () { sync(); help.hidden = status.value !== "missed"; });
  sync();
  help.hidden = status.value !== "missed";

  if (!date || !label || !data) { return; }
  var days = JSON.parse(data.textContent);
  function dayChanged(event) {
    var day = days[date.value];
    var untouched = dose.readOnly ? typed === prefill : (dose.value === prefill || dose.value === "");
    if (!day) {
      label.textContent = "The expected dose is shown for the last 14 days only: check the plan for that day.";
      return;
    }
    label.textContent = day.text + (day.logged ? " A dose is already logged for that day." : "");
    dose.dataset.expected = day.expected || "";
    if (event && untouched) {
      prefill = day.expected || "";
      typed = prefill;
      dose.value = dose.readOnly ? dose.dataset.expected : prefill;
    }
  }
  date.addEventListener("change", dayChanged);
  date.addEventListener("input", dayChanged);
  if (date.value) { dayChanged(null); }  // a form shown again after a save names the day it was for
})();
