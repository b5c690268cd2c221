// The dose–pain chart of the patient page, drawn with Chart.js from the data the server embeds as JSON.
// Readable in black and white: each series differs by line style and point shape, not only by colour.
(function () {
  "use strict";
  var canvas = document.getElementById("dose-pain-chart");
  var source = document.getElementById("chart-data");
  if (!canvas || !source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var num = function (v) { return v === null ? null : Number(v); };
  var low = num(data.range[0]);
  var high = num(data.range[1]);
  var constant = function (value) { return data.labels.map(function () { return value; }); };

  new Chart(canvas, {
    type: "line",
    data: {
      labels: data.labels,
      datasets: [
        { label: "LDN range 0.5 mg", data: constant(low), yAxisID: "dose", borderWidth: 0, pointRadius: 0,
          fill: false, backgroundColor: "rgba(13,110,253,0.10)" },
        { label: "LDN range 0.5–4.5 mg", data: constant(high), yAxisID: "dose", borderWidth: 0, pointRadius: 0,
          fill: "-1", backgroundColor: "rgba(108,117,125,0.15)" },
        { label: "Dose taken (mg)", data: data.dose.map(num), yAxisID: "dose", stepped: true, borderColor: "#0d47a1",
          borderWidth: 2.5, pointRadius: 0, spanGaps: false },
        { label: "Expected dose (mg)", data: data.scheduled.map(num), yAxisID: "dose", stepped: true,
          borderColor: "#000", borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0 },
        { label: "Flagged dose", data: data.flagged.map(num), yAxisID: "dose", showLine: false, pointStyle: "triangle",
          pointRadius: 7, pointBackgroundColor: "#b02a37", pointBorderColor: "#000" },
        { label: "Missed dose", data: data.missed.map(num), yAxisID: "dose", showLine: false, pointStyle: "crossRot",
          pointRadius: 6, pointBorderColor: "#000", pointBorderWidth: 2 },
        { label: "Pain (0–10)", data: data.pain, yAxisID: "pain", spanGaps: true, borderColor: "#8a3c00",
          borderDash: [2, 3], borderWidth: 2, pointStyle: "circle", pointRadius: 4, pointBackgroundColor: "#fff",
          pointBorderColor: "#8a3c00" },
        { label: "Severe side effect", data: data.severe, yAxisID: "pain", showLine: false, pointStyle: "star",
          pointRadius: 9, pointBorderColor: "#000", pointBorderWidth: 2 }
      ]
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { ticks: { maxTicksLimit: 12 } },
        dose: { type: "linear", position: "left", min: 0, suggestedMax: 5, title: { display: true, text: "Dose (mg)" } },
        pain: { type: "linear", position: "right", min: 0, max: 10, grid: { drawOnChartArea: false },
          title: { display: true, text: "Pain (0–10)" } }
      },
      plugins: {
        legend: { labels: { usePointStyle: true, filter: function (item) { return item.text !== "LDN range 0.5 mg"; } } }
      }
    }
  });
})();
