using System.Globalization;
using System.Net;
using System.Text;

namespace BlobCache.Sim.Reports;

/// <summary>Small self-contained SVG charts (a line over time, or bars), so a report needs no plotting library.</summary>
public static class SvgChart
{
    private const int Width = 640, Height = 320, Left = 64, Right = 16, Top = 36, Bottom = 48;

    public static string Line(string title, string xLabel, string yLabel, IReadOnlyList<double> xs, IReadOnlyList<double> ys, double? yMax = null)
    {
        var svg = Begin(title, xLabel, yLabel);
        if (xs.Count == 0) return End(svg.Append(Text(Width / 2, Height / 2, "no data", "middle")));
        double x0 = xs.Min(), x1 = Math.Max(xs.Max(), x0 + 1e-9);
        double y1 = yMax ?? Math.Max(ys.Max(), 1e-9);
        Axes(svg, x0, x1, 0, y1);
        var points = new StringBuilder();
        for (int i = 0; i < xs.Count; i++)
            points.Append(F(X(xs[i], x0, x1))).Append(',').Append(F(Y(ys[i], 0, y1))).Append(' ');
        svg.Append($"<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"{points}\"/>");
        return End(svg);
    }

    public static string Bars(string title, string xLabel, string yLabel, IReadOnlyList<string> labels, IReadOnlyList<double> values)
    {
        var svg = Begin(title, xLabel, yLabel);
        double y1 = Math.Max(values.Count == 0 ? 0 : values.Max(), 1e-9);
        Axes(svg, double.NaN, double.NaN, 0, y1);
        int n = Math.Max(values.Count, 1);
        double slot = (Width - Left - Right) / (double)n;
        for (int i = 0; i < values.Count; i++)
        {
            double x = Left + i * slot + slot * 0.1, w = slot * 0.8, y = Y(values[i], 0, y1);
            svg.Append($"<rect x=\"{F(x)}\" y=\"{F(y)}\" width=\"{F(w)}\" height=\"{F(Height - Bottom - y)}\" fill=\"#1f77b4\"/>");
            if (n <= 12 || i % (n / 8 + 1) == 0) svg.Append(Text(x + w / 2, Height - Bottom + 14, labels[i], "middle", 10));
        }
        return End(svg);
    }

    /// <summary>Counts of values in equal-width bins, labelled by bin start.</summary>
    public static (string[] Labels, double[] Counts) Histogram(IReadOnlyList<double> values, int bins, string format = "0.##")
    {
        if (values.Count == 0) return ([], []);
        double lo = values.Min(), hi = values.Max();
        if (hi <= lo) hi = lo + 1;
        double width = (hi - lo) / bins;
        var counts = new double[bins];
        foreach (double v in values) counts[Math.Min(bins - 1, (int)((v - lo) / width))]++;
        string[] labels = Enumerable.Range(0, bins).Select(i => (lo + i * width).ToString(format, CultureInfo.InvariantCulture)).ToArray();
        return (labels, counts);
    }

    private static StringBuilder Begin(string title, string xLabel, string yLabel)
    {
        var svg = new StringBuilder();
        svg.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.Append($"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>");
        svg.Append(Text(Width / 2, 20, title, "middle", 14));
        svg.Append(Text((Left + Width - Right) / 2, Height - 8, xLabel, "middle"));
        svg.Append($"<text x=\"14\" y=\"{(Top + Height - Bottom) / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {(Top + Height - Bottom) / 2})\">{WebUtility.HtmlEncode(yLabel)}</text>");
        return svg;
    }

    private static void Axes(StringBuilder svg, double x0, double x1, double y0, double y1)
    {
        svg.Append($"<line x1=\"{Left}\" y1=\"{Height - Bottom}\" x2=\"{Width - Right}\" y2=\"{Height - Bottom}\" stroke=\"black\"/>");
        svg.Append($"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{Height - Bottom}\" stroke=\"black\"/>");
        for (int i = 0; i <= 4; i++)
        {
            double v = y0 + (y1 - y0) * i / 4;
            double y = Y(v, y0, y1);
            svg.Append($"<line x1=\"{Left - 4}\" y1=\"{F(y)}\" x2=\"{Width - Right}\" y2=\"{F(y)}\" stroke=\"#ddd\"/>");
            svg.Append(Text(Left - 6, y + 4, Short(v), "end", 10));
            if (!double.IsNaN(x0))
            {
                double xv = x0 + (x1 - x0) * i / 4;
                svg.Append(Text(X(xv, x0, x1), Height - Bottom + 14, Short(xv), "middle", 10));
            }
        }
    }

    private static string End(StringBuilder svg) => svg.Append("</svg>").ToString();

    private static double X(double v, double x0, double x1) => Left + (v - x0) / (x1 - x0) * (Width - Left - Right);

    private static double Y(double v, double y0, double y1) => Height - Bottom - (v - y0) / (y1 - y0) * (Height - Top - Bottom);

    private static string Text(double x, double y, string text, string anchor, int size = 12) =>
        $"<text x=\"{F(x)}\" y=\"{F(y)}\" text-anchor=\"{anchor}\" font-size=\"{size}\">{WebUtility.HtmlEncode(text)}</text>";

    private static string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);

    private static string Short(double v) => Math.Abs(v) switch
    {
        >= 1e9 => (v / 1e9).ToString("0.#", CultureInfo.InvariantCulture) + "G",
        >= 1e6 => (v / 1e6).ToString("0.#", CultureInfo.InvariantCulture) + "M",
        >= 1e4 => (v / 1e3).ToString("0.#", CultureInfo.InvariantCulture) + "k",
        _ => v.ToString("0.##", CultureInfo.InvariantCulture),
    };
}
