// The post-live review: bar charts (uPlot, as on the ops wall) of the fulfilment stages (p50 and p90 in hours) and
// of the carriers' scores. The data is in #rv-data, written by the server with the page.
(function () {
  "use strict";
  function css(name) { return getComputedStyle(document.body).getPropertyValue(name).trim(); }

  function bars(host, labels, series) {
    if (!host || typeof uPlot === "undefined" || !labels.length) return null;
    var muted = css("--muted"), grid = "rgba(128,128,128,.15)";
    var x = labels.map(function (_, i) { return i; });
    var opts = {
      width: host.clientWidth || 600,
      height: 220,
      legend: { show: false },  // the page draws its own key beside the chart
      cursor: { show: false },
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.15)]; } } },
      axes: [
        { stroke: muted, grid: { show: false }, splits: function () { return x; },
          values: function (u, splits) { return splits.map(function (i) { return labels[i] || ""; }); } },
        { stroke: muted, grid: { stroke: grid, width: 1 } }
      ],
      series: [{}].concat(series.map(function (s, i) {
        var align = series.length > 1 ? (i === 0 ? -1 : 1) : 0;  // side by side around the label
        return { label: s.label, stroke: s.color, fill: s.color, width: 0, points: { show: false },
                 paths: uPlot.paths.bars({ size: [series.length > 1 ? 0.35 : 0.5, 80], align: align }) };
      }))
    };
    return new uPlot(opts, [x].concat(series.map(function (s) { return s.values; })), host);
  }

  function hours(values) { return values.map(function (s) { return s === null ? null : Math.round(s / 36) / 100; }); }

  function draw() {
    var data = JSON.parse((document.getElementById("rv-data") || {}).textContent || "{}");
    var stages = document.getElementById("rv-chart-stages");
    if (data.stages && stages) {
      bars(stages, data.stages.labels, [
        { label: "p50 (" + stages.dataset.unit + ")", color: css("--ok") || "#1f9d55", values: hours(data.stages.p50) },
        { label: "p90 (" + stages.dataset.unit + ")", color: css("--low") || "#d98e04", values: hours(data.stages.p90) }
      ]);
    }
    var scores = document.getElementById("rv-chart-scores");
    if (data.scores && scores) {
      bars(scores, data.scores.labels, [{ label: scores.dataset.score, color: css("--accent") || "#e8453c", values: data.scores.score }]);
    }
    document.body.dataset.charts = "drawn";
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw); else draw();
})();
