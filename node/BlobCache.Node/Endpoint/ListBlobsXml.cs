using System.Globalization;
using System.Text;
using System.Xml;
using BlobCache.Node.Origin;

namespace BlobCache.Node.Endpoint;

/// <summary>Writes List Blobs' <c>EnumerationResults</c> document in the shape Blob returns and SDKs parse.</summary>
public static class ListBlobsXml
{
    public static byte[] Write(string serviceEndpoint, string container, string? prefix, string? marker, int? maxResults, string? delimiter, ListPage page)
    {
        var settings = new XmlWriterSettings { Encoding = new UTF8Encoding(false), Indent = false };
        using var stream = new MemoryStream();
        using (var x = XmlWriter.Create(stream, settings))
        {
            x.WriteStartDocument();
            x.WriteStartElement("EnumerationResults");
            x.WriteAttributeString("ServiceEndpoint", serviceEndpoint);
            x.WriteAttributeString("ContainerName", container);
            if (prefix is not null) x.WriteElementString("Prefix", prefix);
            if (marker is not null) x.WriteElementString("Marker", marker);
            if (maxResults is not null) x.WriteElementString("MaxResults", maxResults.Value.ToString(CultureInfo.InvariantCulture));
            if (delimiter is not null) x.WriteElementString("Delimiter", delimiter);
            x.WriteStartElement("Blobs");
            foreach (ListedBlob b in page.Items)
            {
                if (b.IsPrefix)
                {
                    x.WriteStartElement("BlobPrefix");
                    x.WriteElementString("Name", b.Name);
                    x.WriteEndElement();
                    continue;
                }
                x.WriteStartElement("Blob");
                x.WriteElementString("Name", b.Name);
                x.WriteStartElement("Properties");
                // Blob's order of the properties; those the blob does not have are left out, as Blob does.
                BlobDetails? d = b.Details;
                string modified = BlobInfo.HttpDate(b.LastModified ?? DateTimeOffset.UnixEpoch);
                x.WriteElementString("Creation-Time", d?.CreatedOn is { } created ? BlobInfo.HttpDate(created) : modified);
                x.WriteElementString("Last-Modified", modified);
                x.WriteElementString("Etag", b.ETag ?? "");
                x.WriteElementString("Content-Length", b.Length.ToString(CultureInfo.InvariantCulture));
                x.WriteElementString("Content-Type", b.ContentType ?? "application/octet-stream");
                Optional(x, "Content-Encoding", d?.ContentEncoding);
                Optional(x, "Content-Language", d?.ContentLanguage);
                Optional(x, "Content-MD5", b.ContentMd5 is { Length: > 0 } md5 ? Convert.ToBase64String(md5) : null);
                Optional(x, "Content-Disposition", d?.ContentDisposition);
                Optional(x, "Cache-Control", d?.CacheControl);
                x.WriteElementString("BlobType", "BlockBlob");
                x.WriteElementString("LeaseStatus", "unlocked");
                x.WriteElementString("LeaseState", "available");
                x.WriteElementString("ServerEncrypted", d is null || d.ServerEncrypted ? "true" : "false");
                Optional(x, "AccessTier", d?.AccessTier);
                if (d?.AccessTier is { Length: > 0 } && d.AccessTierInferred) x.WriteElementString("AccessTierInferred", "true");
                x.WriteEndElement();
                x.WriteEndElement();
            }
            x.WriteEndElement();
            x.WriteElementString("NextMarker", page.NextMarker ?? "");
            x.WriteEndElement();
            x.WriteEndDocument();
        }
        return stream.ToArray();
    }

    private static void Optional(XmlWriter x, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value)) x.WriteElementString(name, value);
    }
}
