using System.Text;

namespace BlobCache.Http;

/// <summary>
/// The response to a request the server answers itself: one refused before any handler saw it, or one whose handler
/// failed before answering. The server writes the status line, Content-Type, Content-Length, Date and Connection;
/// this holds the other header fields and the body.
/// </summary>
public sealed record ErrorAnswer(string ContentType, byte[] Body, IReadOnlyList<KeyValuePair<string, string>> Headers)
{
    /// <summary>What an application that says nothing else gets: the message as plain text.</summary>
    public static ErrorAnswer PlainText(int status, string message, string requestId) => new("text/plain", Encoding.UTF8.GetBytes(message + "\n"), []);
}
