//! Property: chunked encoding then decoding is the identity. Whatever body
//! pieces a handler writes through the [`ResponseWriter`] (chunked, as an
//! HTTP/1.1 response without `Content-Length` is), the [`BodyReader`] that
//! the client and the server read bodies with gives back the same bytes,
//! in pieces no larger than its `chunk_size`, and stops exactly at the
//! terminating chunk, leaving what follows on the connection.

use std::os::unix::net::UnixStream;

use proptest::prelude::*;
use tornado_gen::coroutine;
use tornado_ioloop::IOLoop;
use tornado_iostream::IOStream;

use super::framing::{Framing, response_framing};
use super::head::{ResponseHead, parse_response_head};
use super::reader::{BodyReader, Reader};
use super::writer::ResponseWriter;
use crate::httputil::HttpHeaders;

/// Writes `pieces` as one chunked response followed by `NEXT`, and reads
/// it back: (the body's pieces, the bytes left after the body).
fn round_trip(pieces: Vec<Vec<u8>>, chunk_size: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
    let ioloop = IOLoop::new().unwrap();
    ioloop
        .run_sync(
            move || {
                coroutine(async move {
                    let (a, b) = UnixStream::pair()?;
                    let (server, client) = (IOStream::new(a)?, IOStream::new(b)?);
                    let w = ResponseWriter::new(server.clone(), true, false, true);
                    let (first, rest) = pieces.split_first().expect("at least one piece");
                    drop(w.write_headers(200, None, &HttpHeaders::new(), first));
                    for p in rest {
                        drop(w.write(p));
                    }
                    w.finish().await?;
                    server.write(b"NEXT".to_vec()).await?;
                    server.close();
                    let mut r = Reader::new(client);
                    let head = r.read_head(4096).await?;
                    let ResponseHead { code, headers, .. } = parse_response_head(&head)?;
                    let framing = response_framing("GET", code, &headers)?;
                    assert_eq!(framing, Framing::Chunked);
                    let mut body = BodyReader::new(framing, usize::MAX, chunk_size);
                    let mut got = Vec::new();
                    while let Some(p) = body.next(&mut r).await? {
                        got.push(p);
                    }
                    let (stream, mut after) = r.into_parts();
                    after.extend(stream.read_until_close().await?);
                    Ok((got, after))
                })
            },
            None,
        )
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn chunked_encoding_then_decoding_is_the_identity(
        pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..12),
        chunk_size in 1usize..400,
    ) {
        let sent: Vec<u8> = pieces.concat();
        let (got, after) = round_trip(pieces, chunk_size);
        prop_assert!(got.iter().all(|p| !p.is_empty() && p.len() <= chunk_size));
        prop_assert_eq!(got.concat(), sent);
        prop_assert_eq!(after, b"NEXT".to_vec());
    }
}
