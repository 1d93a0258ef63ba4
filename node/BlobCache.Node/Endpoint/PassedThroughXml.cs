using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace BlobCache.Node.Endpoint;

/// <summary>
/// A listing Blob sent, made the node's own: its <c>ServiceEndpoint</c> names the node (clients build URLs from it),
/// and List Containers leaves out the containers this endpoint does not show (<c>--allowed-containers</c>).
/// </summary>
public static class PassedThroughXml
{
    public static byte[] Rewrite(byte[] body, string serviceEndpoint, Func<string, bool>? showContainer)
    {
        XDocument doc = XDocument.Parse(Encoding.UTF8.GetString(body).TrimStart('\uFEFF'), LoadOptions.PreserveWhitespace);
        XElement root = doc.Root ?? throw new XmlException("the origin's listing has no root element");
        root.Attribute("ServiceEndpoint")?.SetValue(serviceEndpoint);
        if (showContainer is not null)
            root.Element("Containers")?.Elements("Container").Where(c => !showContainer(c.Element("Name")?.Value ?? "")).Remove();
        using var stream = new MemoryStream();
        using (var x = XmlWriter.Create(stream, new XmlWriterSettings { Encoding = new UTF8Encoding(false), Indent = false }))
            doc.Save(x);
        return stream.ToArray();
    }
}
