// Tables inside .table-reflow become stacked cards on narrow screens (see app.css). Each cell gets its
// column's heading as data-label, shown before the value; cells spanning several columns speak for
// themselves and get none. Explicit roles keep the table semantics once the cells are laid out as blocks.
(function () {
  "use strict";

  var LONG_TEXT = 30;  // characters: about what half a 390 px card holds on two lines

  function text(element) {
    return element.textContent.replace(/\s+/g, " ").trim();
  }

  function label(table) {
    var head = table.tHead && table.tHead.rows[0];
    if (!head) { return; }
    var headings = [];
    Array.prototype.forEach.call(head.cells, function (cell) {
      for (var i = 0; i < cell.colSpan; i += 1) { headings.push(text(cell)); }
    });
    table.setAttribute("role", "table");
    Array.prototype.forEach.call(table.querySelectorAll("thead, tbody, tfoot"), function (group) {
      group.setAttribute("role", "rowgroup");
    });
    Array.prototype.forEach.call(table.rows, function (row) {
      row.setAttribute("role", "row");
      var column = 0;
      Array.prototype.forEach.call(row.cells, function (cell) {
        if (cell.tagName === "TH") {
          cell.setAttribute("role", cell.scope === "row" ? "rowheader" : "columnheader");
        } else {
          cell.setAttribute("role", "cell");
          if (cell.colSpan === 1 && headings[column]) { cell.setAttribute("data-label", headings[column]); }
          var content = text(cell);
          if (!content && !cell.querySelector("img, input, select, textarea, button")) {
            cell.classList.add("cell-empty");
          } else if (content.length > LONG_TEXT) {
            cell.classList.add("cell-wide");  // a sentence gets the card's full width
          }
        }
        column += cell.colSpan;
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll(".table-reflow table"), label);
})();
