// Fill the plan's numbers when a preset is chosen. Without JavaScript, blank numbers take the preset's on save.
(function () {
  "use strict";
  var data = document.getElementById("plan-presets");
  var select = document.getElementById("id_preset");
  if (!data || !select) { return; }
  var presets = JSON.parse(data.textContent);
  var fields = ["starting_dose_mg", "step_mg", "step_interval_days", "target_dose_mg"];
  select.addEventListener("change", function () {
    var preset = presets[select.value];
    if (!preset) { return; }
    fields.forEach(function (name) {
      var input = document.getElementById("id_" + name);
      if (input) { input.value = preset[name]; }
    });
  });
})();
