// On the patient form, ask for a condition's "date diagnosed" only once it is ticked: each date field
// moves under its checkbox and is shown (and submitted) only while the box is ticked. Without
// JavaScript every date field is on the form and works as before; an unticked condition's date is
// ignored by the server either way.
(function () {
  "use strict";
  var boxes = document.querySelectorAll('input[type="checkbox"][name="conditions"]');
  Array.prototype.forEach.call(boxes, function (box) {
    var input = document.querySelector('input[name="diagnosed_on_' + box.value + '"]');
    var field = input && input.closest(".diagnosis-date");
    if (!field) { return; }
    var check = box.closest(".form-check") || box.parentNode;
    check.parentNode.insertBefore(field, check.nextSibling);
    field.classList.add("is-inline");
    // A date the server refused stays on view, whatever the box says, so its message is seen.
    var refused = input.classList.contains("is-invalid");
    function sync() {
      var shown = box.checked || refused;
      field.hidden = !shown;
      input.disabled = !shown;
    }
    box.addEventListener("change", sync);
    sync();
  });
})();
