//! The C ABI: conversion, one panic boundary per function, status codes.
//! No engine logic lives here.
