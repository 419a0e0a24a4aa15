using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Batching;

namespace TrackMulti.Api.Storage;

public sealed class S3BatchStore(IAmazonS3 s3, IOptions<S3Options> options) : IBatchStore
{
    public const string NdjsonContentType = "application/x-ndjson";

    private readonly S3Options _options = options.Value;

    public string Location => _options.BucketName;

    public async Task PutAsync(SealedBatch batch, CancellationToken cancellationToken)
    {
        await using var content = new FileStream(batch.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, useAsync: true);
        var request = new PutObjectRequest
        {
            BucketName = _options.BucketName,
            Key = batch.Key,
            InputStream = content,
            ContentType = NdjsonContentType,
            // Emulators such as s3rver store aws-chunked framing as object data and still answer 200;
            // real S3 and LocalStack accept either, so plain bodies are used for every custom endpoint.
            UseChunkEncoding = !_options.UsesCustomEndpoint,
        };
        await s3.PutObjectAsync(request, cancellationToken);
    }
}
