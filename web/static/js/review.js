// The post-live review: bar charts (uPlot, as on the ops wall) of the fulfilment stages (p50 and p90), of
// the carriers' scores and of each SKU's forecast against what sold. The data is in #rv-data, written by the
// server with the page.
(function () {
  "use strict";
  function css(name) { return getComputedStyle(document.body).getPropertyValue(name).trim(); }
  function short(label, n) { return label.length > n ? label.slice(0, n - 1) + "…" : label; }

  function bars(host, labels, series, height) {
    if (!host || typeof uPlot === "undefined" || !labels.length) return null;
    var muted = css("--muted"), grid = "rgba(128,128,128,.15)";
    var x = labels.map(function (_, i) { return i; });
    var opts = {
      width: host.clientWidth || 600,
      height: height || host.clientHeight || 220,
      legend: { show: false },  // the page draws its own key beside the chart
      cursor: { show: false },
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.15)]; } } },
      axes: [
        { stroke: muted, grid: { show: false }, splits: function () { return x; }, size: 34,
          values: function (u, splits) { return splits.map(function (i) { return labels[i] || ""; }); } },
        { stroke: muted, grid: { stroke: grid, width: 1 }, size: 56 }
      ],
      series: [{}].concat(series.map(function (s, i) {
        var align = series.length > 1 ? (i === 0 ? -1 : 1) : 0;  // side by side around the label
        return { label: s.label, stroke: s.color, fill: s.color, width: 0, points: { show: false },
                 paths: uPlot.paths.bars({ size: [series.length > 1 ? 0.35 : 0.5, 80], align: align }) };
      }))
    };
    return new uPlot(opts, [x].concat(series.map(function (s) { return s.values; })), host);
  }

  // Seconds in the unit that suits the longest: hours, else minutes, else seconds (the key says which).
  function scaled(values, host) {
    var most = Math.max.apply(null, values.map(function (s) { return s || 0; }));
    var unit = most >= 7200 ? [3600, host.dataset.unit] : most >= 120 ? [60, host.dataset.minutes] : [1, host.dataset.seconds];
    var key = document.getElementById("rv-stages-unit");
    if (key) key.textContent = "(" + unit[1] + ")";
    return function (list) { return list.map(function (s) { return s === null ? null : Math.round(s / unit[0] * 100) / 100; }); };
  }

  function draw() {
    var data = JSON.parse((document.getElementById("rv-data") || {}).textContent || "{}");
    var stages = document.getElementById("rv-chart-stages");
    if (data.stages && stages) {
      var inUnit = scaled(data.stages.p50.concat(data.stages.p90), stages);
      bars(stages, data.stages.labels, [
        { label: "p50", color: css("--ok") || "#1f9d55", values: inUnit(data.stages.p50) },
        { label: "p90", color: css("--low") || "#d98e04", values: inUnit(data.stages.p90) }
      ]);
    }
    var scores = document.getElementById("rv-chart-scores");
    if (data.scores && scores) {
      var names = data.carriers || {};
      var carriers = data.scores.labels.map(function (id) { return short(names[id] || id, 6); });
      bars(scores, carriers, [{ label: scores.dataset.score, color: css("--accent") || "#e8453c", values: data.scores.score }]);
    }
    var stock = document.getElementById("rv-chart-stock");
    if (data.stock && stock) {
      var skus = data.stock.labels.map(function (id, i) { return short(data.stock.names[i] || id, 7); });
      bars(stock, skus, [
        { label: stock.dataset.forecast, color: css("--muted") || "#8a8f98", values: data.stock.forecast },
        { label: stock.dataset.sold, color: css("--accent") || "#e8453c", values: data.stock.sold }
      ]);
    }
    document.body.dataset.charts = "drawn";
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw); else draw();
})();
