using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Xml;
using Microsoft.AspNetCore.Http;

namespace BlobCache.Node.Endpoint;

/// <summary>The List Blobs parameters of a <c>?restype=container&amp;comp=list</c> request.</summary>
public readonly record struct ListQuery(string? Prefix, string? Delimiter, string? Marker, int? MaxResults)
{
    /// <summary>Reads prefix, delimiter, marker and maxresults; false with a Blob error code and message for a 400.</summary>
    public static bool TryParse(IQueryCollection query, out ListQuery list, [NotNullWhen(false)] out string? code, [NotNullWhen(false)] out string? error)
    {
        list = default;
        code = error = null;
        int? max = null;
        if (query.TryGetValue("maxresults", out var m))
        {
            if (!int.TryParse(m, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1 || n > 5000)
            {
                (code, error) = ("OutOfRangeQueryParameterValue", "maxresults must be from 1 to 5000");
                return false;
            }
            max = n;
        }
        list = new ListQuery(BlobEndpoint.Optional(query["prefix"]), BlobEndpoint.Optional(query["delimiter"]), BlobEndpoint.Optional(query["marker"]), max);
        // The listing echoes these in XML, which cannot carry control characters, U+FFFE/U+FFFF or lone surrogates.
        foreach ((string name, string? value) in new[] { ("prefix", list.Prefix), ("delimiter", list.Delimiter), ("marker", list.Marker) })
        {
            if (value is null || IsXmlText(value)) continue;
            (code, error) = ("InvalidQueryParameterValue", $"{name} contains a character that XML cannot carry");
            return false;
        }
        return true;
    }

    private static bool IsXmlText(string value)
    {
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1])) i++;
            else if (!XmlConvert.IsXmlChar(c)) return false;
        }
        return true;
    }
}
