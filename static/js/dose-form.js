// A missed dose stores no dose: while "Missed" is chosen, the dose field shows the expected dose read-only.
(function () {
  "use strict";
  var status = document.getElementById("id_status");
  var dose = document.getElementById("id_dose_mg");
  if (!status || !dose) { return; }
  var typed = dose.value;
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
})();
