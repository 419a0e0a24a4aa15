using TrackMulti.Api.Pipeline;

namespace TrackMulti.Api.Sinks.S3;

/// <summary>The bucket as operators see it: its newest objects (a failing S3 described, not thrown) and its Athena tables.</summary>
public sealed class S3Catalog(IObjectStore store, AthenaTables tables, ILogger<S3Catalog> logger) : IRecordCatalog
{
    public string Location => store.Location;

    public async Task<ObjectListing> ListRecentAsync(int limit, CancellationToken cancellationToken)
    {
        try
        {
            return new ObjectListing(await store.ListRecentAsync(limit, cancellationToken), null);
        }
        catch (Exception ex) when (ex is Amazon.Runtime.AmazonServiceException or Amazon.Runtime.AmazonClientException or HttpRequestException)
        {
            logger.LogWarning(ex, "Listing {Bucket} failed", store.Location);
            return new ObjectListing(null, S3Faults.Describe(ex));
        }
    }

    public string AthenaDdl() => tables.Ddl();
}
