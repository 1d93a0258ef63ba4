using BlobCache.Http;

namespace BlobCache.Node.Endpoint;

/// <summary>
/// The endpoint server's own answers (a request refused before any handler, a handler that failed before answering)
/// in Blob's shape, so an Azure SDK reads an error code and a message from them as from any other Blob error.
/// </summary>
public static class BlobServerErrors
{
    public static ErrorAnswer Answer(int status, string message, string requestId)
    {
        string code = Code(status);
        return new ErrorAnswer("application/xml", BlobErrors.Body(code, message, requestId),
        [
            new("x-ms-error-code", code), new("x-ms-request-id", requestId), new("x-ms-version", BlobHeaders.Version), new("Server", "BlobCache"),
        ]);
    }

    /// <summary>Blob's own error code for a status the server answers with.</summary>
    public static string Code(int status) => status switch
    {
        413 => "RequestBodyTooLarge",
        417 or 501 => "UnsupportedHeader", // an Expect or a transfer coding the server does not take
        500 => "InternalError",
        503 => "ServerBusy",
        _ => "InvalidInput", // a malformed head (400), too large a head (431), an HTTP version other than 1.x (505)
    };
}
